"""harness.deploy's bookkeeping: slowest resources, what survives a sandbox restart, init stamp."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import deploy
from sandbox import terraform
from sandbox.config import SandboxConfig

APPLY_OUTPUT = """\
aws_sns_topic.alerts: Creation complete after 1s [id=arn:aws:sns:us-east-1:0:alerts]
module.priority_pipeline["high"].aws_sqs_queue.dlq: Creation complete after 27s [id=http://q]
aws_kms_key.main: Modifications complete after 14s [id=abc]
aws_lambda_function.slow: Creation complete after 1m5s [id=slow]
aws_sqs_queue.x: Still creating... [20s elapsed]
"""


def test_slowest_resources_come_first_with_minutes_counted() -> None:
    assert deploy.slowest(APPLY_OUTPUT, count=3) == [
        ("aws_lambda_function.slow", 65),
        ('module.priority_pipeline["high"].aws_sqs_queue.dlq', 27),
        ("aws_kms_key.main", 14),
    ]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SandboxConfig:
    monkeypatch.setenv("SANDBOX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SANDBOX_PORT", "4999")
    return SandboxConfig.from_env()


def test_a_new_sandbox_forgets_the_state_but_keeps_terraform_s_plugins(config) -> None:
    stack = deploy.workdir(config) / "stack"
    deploy.sync_stack(stack)
    kept = [stack / ".terraform" / "providers", stack / terraform.OVERRIDE_NAME]
    gone = [stack / name for name in deploy.STATE_FILES] + [deploy.outputs_file(config)]
    for path in kept[1:] + gone:
        path.write_text("x")
    kept[0].mkdir(parents=True)
    deploy.forget_state(config)
    deploy.sync_stack(stack)  # copying stack/ again keeps them too
    assert all(path.exists() for path in kept)
    assert not any(path.exists() for path in gone)
    assert (stack / "main.tf").exists()


def test_the_configuration_digest_follows_the_tf_files_only(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('resource "x" "y" {}')
    before = deploy.configuration_digest(tmp_path)
    (tmp_path / terraform.OVERRIDE_NAME).write_text("provider {}")
    (tmp_path / "terraform.tfstate").write_text("{}")
    assert deploy.configuration_digest(tmp_path) == before
    (tmp_path / "main.tf").write_text('resource "x" "z" {}')
    assert deploy.configuration_digest(tmp_path) != before


def test_plain_terraform_refuses_to_call_aws_without_the_override(config, tmp_path) -> None:
    with pytest.raises(RuntimeError, match="would not talk to the sandbox"):
        terraform.run_plain(["apply", "-auto-approve"], tmp_path, config)


def test_a_folder_prepared_with_an_older_override_writes_it_again(config, monkeypatch) -> None:
    """A sandbox home prepared before the override changed (here: tflocal's `endpoints` block
    kept, the stamp without OVERRIDE_VERSION) gets init and the override again; then not."""
    stack = deploy.workdir(config) / "stack"
    deploy.sync_stack(stack)
    (stack / ".terraform").mkdir()
    (stack / terraform.OVERRIDE_NAME).write_text('provider "aws" {\n  endpoints {\n }\n}\n')
    stamp = deploy.workdir(config) / "prepared"
    stamp.write_text(f"{config.endpoint}\n{deploy.configuration_digest(stack)}")
    done: list[str] = []
    monkeypatch.setattr(deploy, "tf", lambda config, cwd, *args: done.append(args[0]) or "")
    monkeypatch.setattr(
        terraform, "write_provider_override", lambda cwd, config: done.append("override")
    )
    deploy.prepare(config, stack)
    assert done == ["init", "override"]
    deploy.prepare(config, stack)
    assert done == ["init", "override"]


def test_a_quiet_build_keeps_its_output_for_the_error(monkeypatch, tmp_path, capfd) -> None:
    script = tmp_path / "build.py"
    script.write_text("import sys\nprint('pip says hello')\nsys.exit(3)\n")
    monkeypatch.setattr(deploy, "BUILD_SCRIPT", script)
    with deploy.quietly(), pytest.raises(deploy.DeployError, match="pip says hello"):
        deploy.build()
    assert "pip says hello" not in capfd.readouterr().out
