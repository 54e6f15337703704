"""The dual-interpreter suites (tests/contract, tests/firmware) under the real MicroPython port.

Each contract module is one pytest case, so a failure names the module and prints what
MicroPython printed.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO

# Test folders whose modules run under both interpreters.
DUAL_DIRS = ("tests/contract", "tests/firmware")
MODULES = sorted((d, p.stem) for d in DUAL_DIRS for p in (REPO / d).glob("test_*.py"))


@pytest.mark.parametrize(("folder", "module"), MODULES, ids=[f"{d}/{m}" for d, m in MODULES])
def test_module_passes_under_micropython(micropython: str, folder: str, module: str) -> None:
    proc = subprocess.run(
        [micropython, "tests/contract/mp_run.py", "--dir", folder, module],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
    assert proc.returncode == 0, f"{module} under MicroPython:\n{proc.stdout}\n{proc.stderr}"
    assert tail and tail[0].endswith(" 0 failed"), proc.stdout
    assert not tail[0].startswith("0 passed"), f"{module}: no test ran under MicroPython"
