"""Loaded by every Python process whose PYTHONPATH holds this folder (see sandbox.netguard), and
by path by Lambda function processes, which ignore PYTHONPATH (lambda_runtime/bootstrap.py).

Records, as JSON lines in $NETGUARD_RECORD, every name lookup of a non-loopback name and every
connect/sendto to a non-loopback address. It only records: the proxy and the missing outside
DNS make the attempts fail on their own. Kept dependency-free: it runs before anything else.
"""

import ipaddress
import json
import os
import sys

_RECORD = os.environ.get("NETGUARD_RECORD")
_LOCAL_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_LOOKUPS = {
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "socket.gethostbyaddr",
    "socket.getnameinfo",
}
_SENDS = {"socket.connect", "socket.sendto", "socket.sendmsg"}


def _is_local(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").lower().rstrip(".")
    if host in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _record(event, detail):
    line = json.dumps({"event": event, "detail": detail, "pid": os.getpid(), "argv": sys.argv[:3]})
    try:
        with open(_RECORD, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def _hook(event, args):
    try:
        if event in _LOOKUPS:
            target = args[0]
            if isinstance(target, tuple):  # getnameinfo((host, port), flags)
                target = target[0]
            if not _is_local(target):
                _record(event, repr(target))
        elif event in _SENDS:
            address = args[-1]  # (socket, address) for connect, sendto and sendmsg
            if isinstance(address, tuple) and address and not _is_local(address[0]):
                _record(event, repr(address))
    except Exception:  # an audit hook must never break the process it watches
        pass


if _RECORD:
    sys.addaudithook(_hook)
