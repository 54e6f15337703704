"""SIGKILL crash harness shared by the ledger and accounting crash tests.

A child process (run under the real MicroPython binary) acknowledges its progress, one line
at a time, on a pipe; :func:`kill_loop` starts it again and again, kills it with SIGKILL at
random instants — sometimes anywhere (boot included), mostly a short random delay after it
reported its boot (a line starting with ``open``) — and hands every acknowledgement line to
the test's ``feed``, so the test can check after each restart that nothing acknowledged was
lost. The child is started as ``micropython CHILD ROOT ACK_FD MODE``, with MODE alternating
between the two ``modes`` (the second on odd runs).
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO


class AckReader:
    """Lines from the acknowledgement pipe, read without blocking."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        os.set_blocking(fd, False)

    def lines(self, timeout: float = 0.0) -> list[str]:
        if timeout and not select.select([self.fd], [], [], timeout)[0]:
            return []
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.buf += chunk
        *done, self.buf = self.buf.split(b"\n")
        return [line.decode() for line in done]


def kill_loop(
    micropython: str,
    child: str,
    root: Path,
    kills: int,
    seed: int,
    feed: Callable[[str], None],
    *,
    modes: tuple[str, str],
    anywhere_p: float,
    anywhere_s: float,
    boot_timeout_s: float,
    after_boot_s: float,
    check: Callable[[], object] | None = None,
    check_every: int = 50,
) -> None:
    """Start ``child`` ``kills`` times and SIGKILL it each time (module docstring).

    With probability ``anywhere_p`` the kill comes after a uniform delay in [0, anywhere_s]
    wherever the child is; otherwise it waits for the child's ``open`` line (at most
    ``boot_timeout_s``) and kills it within [0, after_boot_s] after. ``check()`` runs after
    every ``check_every`` kills. ``root`` is created here; the child's stderr is kept in
    ``root.parent / "child.stderr"`` and shown when it fails.
    """
    rnd = random.Random(seed)
    r, w = os.pipe()
    reader = AckReader(r)
    errlog = root.parent / "child.stderr"
    root.mkdir()
    try:
        for k in range(kills):
            with errlog.open("wb") as err:
                proc = subprocess.Popen(
                    [micropython, child, str(root), str(w), modes[k % 2]],
                    cwd=REPO,
                    pass_fds=(w,),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
                if rnd.random() < anywhere_p:
                    time.sleep(rnd.uniform(0.0, anywhere_s))
                else:
                    deadline = time.monotonic() + boot_timeout_s
                    opened = False
                    while not opened and time.monotonic() < deadline:
                        for line in reader.lines(timeout=0.05):
                            feed(line)
                            opened = opened or line.startswith("open ")
                        assert proc.poll() is None, errlog.read_text()
                    assert opened, f"child did not start within {boot_timeout_s:g} s"
                    time.sleep(rnd.uniform(0.0, after_boot_s))
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            assert proc.returncode == -signal.SIGKILL, errlog.read_text()
            for line in reader.lines():
                feed(line)
            if check is not None and k % check_every == check_every - 1:
                check()
    finally:
        os.close(r)
        os.close(w)
