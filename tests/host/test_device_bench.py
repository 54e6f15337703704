"""bench/device_bench.py: the host mode prints every operation with its predicted ESP32 range;
the board mode drives mpremote as a board needs it (here a stand-in that runs the unix port)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

BENCH = REPO / "bench" / "device_bench.py"
_spec = importlib.util.spec_from_file_location("device_bench", BENCH)
assert _spec is not None and _spec.loader is not None
device_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(device_bench)


def test_host_mode_prints_every_operation_with_its_esp32_range(micropython: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--host", "--n", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {ln.strip().split("  ")[0]: ln for ln in proc.stdout.splitlines()}
    for _key, what, _design in device_bench.OPERATIONS:
        assert what in rows, proc.stdout
        assert " – " in rows[what], rows[what]  # the predicted range
    assert "measured" not in proc.stdout  # no board, no board column


FAKE = """\
import shutil, subprocess, sys
board = {board!r}
args = sys.argv[1:]
assert args[:2] == ["connect", "/dev/ttyUSB7"], args
cmds, cur = [], []
for a in args[2:]:
    if a == "+":
        cmds.append(cur)
        cur = []
    else:
        cur.append(a)
cmds.append(cur)
for c in cmds:
    if c[0] == "exec":
        code = subprocess.run([{mp!r}, "-c", c[1]], cwd=board).returncode
    elif c[:2] == ["fs", "cp"]:
        assert c[3].startswith(":"), c
        shutil.copyfile(c[2], board + "/" + c[3][1:])
        code = 0
    elif c[0] == "run":
        code = subprocess.run([{mp!r}, c[1]], cwd=board).returncode
    else:
        raise SystemExit("unexpected mpremote command %r" % c)
    if code:
        sys.exit(code)
"""


def test_board_mode_copies_the_mpy_files_and_reports_measured_vs_predicted(
    micropython: str, tmp_path: Path
) -> None:
    board = tmp_path / "board"
    board.mkdir()
    fake = tmp_path / "mpremote"
    fake.write_text(f"#!{sys.executable}\n" + FAKE.format(board=str(board), mp=micropython))
    fake.chmod(0o755)
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--port", "/dev/ttyUSB7", "--n", "2",
         "--mpremote", str(fake), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (board / "bench" / "protocol" / "pedersen.mpy").exists()
    assert "ESP32 measured" in proc.stdout and "factor" in proc.stdout
    for _key, what, _design in device_bench.OPERATIONS:
        assert what in proc.stdout


def test_a_board_that_does_not_answer_is_an_error(tmp_path: Path) -> None:
    fake = tmp_path / "mpremote"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.exit('failed to access /dev/ttyUSB7')\n")
    fake.chmod(0o755)
    assert device_bench.main(["--port", "/dev/ttyUSB7", "--n", "1", "--mpremote", str(fake)]) == 1
