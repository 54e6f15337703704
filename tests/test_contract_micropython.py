"""The protocol contract suite, run under the real MicroPython unix port.

Each contract module is one pytest case, so a failure names the module and prints what
MicroPython printed.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO

MODULES = sorted(p.stem for p in (REPO / "tests" / "contract").glob("test_*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_contract_module_passes_under_micropython(micropython: str, module: str) -> None:
    proc = subprocess.run(
        [micropython, "tests/contract/mp_run.py", module],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
    assert proc.returncode == 0, f"{module} under MicroPython:\n{proc.stdout}\n{proc.stderr}"
    assert tail and tail[0].endswith(" 0 failed"), proc.stdout
    assert not tail[0].startswith("0 passed"), f"{module}: no test ran under MicroPython"
