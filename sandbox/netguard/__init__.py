"""Trap for outbound network traffic: proves that a sandbox talks to nothing beyond loopback.

`NetTrap` combines a recording HTTP(S) proxy (`proxy.py`) with a Python audit hook loaded through
`site/sitecustomize.py`; `NetTrap.env()` is the environment that puts a process tree under it.
"""

from sandbox.netguard.trap import NetTrap

__all__ = ["NetTrap"]
