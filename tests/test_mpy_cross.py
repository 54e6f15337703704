"""Every device file (protocol/, firmware/) compiles with mpy-cross."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

DEVICE_FILES = sorted(
    str(p.relative_to(REPO)) for d in ("protocol", "firmware") for p in (REPO / d).rglob("*.py")
)


@pytest.mark.parametrize("path", DEVICE_FILES)
def test_device_file_compiles_with_mpy_cross(mpy_cross: str, path: str, tmp_path: Path) -> None:
    out = tmp_path / "out.mpy"
    proc = subprocess.run(
        [mpy_cross, "-o", str(out), path], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0
