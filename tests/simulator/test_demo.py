"""`make demo`'s end-to-end section (a minute or two: marked slow; the protocol section runs in
tests/host/test_vectors_pinned.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import demo


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.end_to_end(tmp_path) == 0
    out = capsys.readouterr().out
    assert "micropython" in out and "CAUGHT" in out and "report:" in out
    assert (tmp_path / "report" / "report.html").exists()
