#!/usr/bin/env bash
# Build the sandbox image without pulling any image (`make image`): idempotent, prints progress.
#
# 1. base image: Debian trixie (its python3 is 3.13, as LocalStack's core needs) made with
#    debootstrap from Debian's packages and `docker import`ed; built once, kept by the engine;
# 2. wheelhouse: the project's dependencies as wheels, resolved with .venv's exact versions
#    (pip freeze as constraints); rebuilt only when pyproject.toml or .venv's versions change;
# 3. the project's own wheel, every time (it is small);
# 4. `docker build --network none` of sandbox/Dockerfile on that base with those wheels: nothing
#    in the build can reach a network; Docker's layer cache skips unchanged steps.
# Debian's packages (step 1) and PyPI (step 2) are needed once; later builds use the engine's
# base image, the wheelhouse and pip's cache. Needs root for debootstrap (step 1 only).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${SANDBOX_IMAGE:-notifications-sandbox:latest}
BASE=${SANDBOX_BASE_IMAGE:-notifications-sandbox-base:trixie}
SUITE=trixie
OUT=$PWD/build/docker
CONTEXT=$OUT/context
PY=$PWD/.venv/bin/python
DOCKER=${DOCKER:-docker}

step() { printf 'image: %s\n' "$*"; }
wheels() { find "$CONTEXT/wheels" -name '*.whl' | wc -l; }
die() { printf 'image: %s\n' "$*" >&2; exit 1; }
took() { printf 'image:   %s in %d s\n' "$1" "$((SECONDS - $2))"; }
total_started=$SECONDS

"$DOCKER" info >/dev/null 2>&1 ||
  die "no Docker engine answers (\`$DOCKER info\` failed): start dockerd, or use \`make up\` (no Docker needed)"

# 1. base image
if "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
  step "1/4 base image $BASE present (kept)"
else
  command -v debootstrap >/dev/null || die "debootstrap is needed once for the base image (apt-get install debootstrap)"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root (once, for the base image $BASE)"
  step "1/4 base image $BASE: debootstrap $SUITE (minbase + python3, python3-venv, iproute2)"
  started=$SECONDS
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$OUT/debs"
  # shellcheck disable=SC2086  # DEBIAN_MIRROR: optional, debootstrap's default otherwise
  debootstrap --variant=minbase --include=python3,python3-venv,iproute2 \
    --cache-dir="$OUT/debs" "$SUITE" "$rootfs" ${DEBIAN_MIRROR:-} >"$OUT/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $OUT/debootstrap.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  took "base image" "$started"
fi

# 2. wheelhouse of the dependencies, at .venv's versions
mkdir -p "$CONTEXT/wheels" "$CONTEXT/project"
"$PY" -m pip freeze --exclude-editable --disable-pip-version-check >"$OUT/constraints.txt"
wanted=$(cat pyproject.toml "$OUT/constraints.txt" | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/wheels.sha256" ] && [ "$(cat "$OUT/wheels.sha256")" = "$wanted" ]; then
  step "2/4 wheelhouse up to date ($(wheels) wheels, kept)"
else
  step "2/4 wheelhouse: pip wheel of the dependencies (versions of .venv)"
  started=$SECONDS
  rm -rf "$CONTEXT/wheels" && mkdir -p "$CONTEXT/wheels"
  "$PY" -m pip wheel --quiet --disable-pip-version-check -c "$OUT/constraints.txt" \
    --wheel-dir "$CONTEXT/wheels" . 2> >(grep -v "^WARNING: Location" >&2)
  rm -f "$CONTEXT"/wheels/notifications_sandbox-*.whl
  echo "$wanted" >"$OUT/wheels.sha256"
  took "wheelhouse ($(wheels) wheels)" "$started"
fi

# 3. the project's wheel
step "3/4 project wheel"
started=$SECONDS
rm -rf "$CONTEXT/project" && mkdir -p "$CONTEXT/project"
# .venv's setuptools (when it has one) spares pip an isolated build environment.
isolation=()
"$PY" -c 'import setuptools' 2>/dev/null && isolation=(--no-build-isolation)
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps "${isolation[@]}" \
  --wheel-dir "$CONTEXT/project" . >"$OUT/project-wheel.log" 2>&1 ||
  die "pip wheel of the project failed; see $OUT/project-wheel.log"
took "project wheel" "$started"

# 4. the image, with no network
step "4/4 docker build --network none -t $IMAGE (base $BASE)"
started=$SECONDS
"$DOCKER" build --quiet --network none --build-arg "BASE=$BASE" \
  -f sandbox/Dockerfile -t "$IMAGE" "$CONTEXT" 2> >(grep -vE "DEPRECATED|buildx|^ *$" >&2) >/dev/null
took "docker build" "$started"
size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
step "done: $IMAGE ($((size / 1000000)) MB) in $((SECONDS - total_started)) s"
