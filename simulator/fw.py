"""The firmware as the simulator's CPython code sees it: imported dynamically, typed as Any.

firmware/ is MicroPython code without annotations and outside the type check (pyproject's mypy
``files``); a static import from simulator/ would make mypy analyse every firmware module it
reaches. The simulator only drives the firmware's public objects (App, PolicyStore, the uplink
transport), so it takes them from here.
"""

from __future__ import annotations

import importlib
from typing import Any


def module(name: str) -> Any:
    """``importlib.import_module(name)``, as Any (``name`` a firmware module)."""
    return importlib.import_module(name)
