"""Tests of the load generator (load/). The repository root goes on sys.path: `load` is run as
`python -m load` from there and is not one of the installed packages."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
