"""Trap for outbound network traffic: proves that a sandbox talks to nothing beyond loopback.

`NetTrap` combines a recording HTTP(S) proxy (`proxy.py`) with a Python audit hook loaded through
`site/sitecustomize.py`; `NetTrap.env()` is the environment that puts a process tree under it.
Processes started with a curated environment (Lambda function processes) get `forwarded_env()`
from their parent instead and load the hook by path (see lambda_runtime/bootstrap.py).
"""

from sandbox.netguard.trap import NetTrap, forwarded_env

__all__ = ["NetTrap", "forwarded_env"]
