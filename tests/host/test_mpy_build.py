"""tools/mpy_build.py: the device modules compiled with their own names shared between modules.

A synthetic repository shows what is renamed and what must not be; the real one shows that
every renamed module still parses, keeps its lines, and that no renamed name is used anywhere
else. That the renamed firmware works is shown end to end by the heap budget tests
(tests/e2e/test_heap_budget.py), which run the whole day on the renamed .mpy files.
"""

from __future__ import annotations

import ast
import re
import subprocess
import tokenize
from pathlib import Path

from tools import mpy_build as mb

A = """\
_SCALE = 10
LIMIT = 5


class Counter:
    def __init__(self):
        self.count = 0
        self.name = "c"

    def bump(self):
        self.count += 1
        return _helper(self.count)

    def read(self):  # a stream method: C code calls it by name
        return self.count


def _helper(v):
    return v * _SCALE + LIMIT


class Holder:
    _named = 3


def by_name(obj):
    return getattr(obj, "_named")


def _shared():
    return 1


def run():
    c = Counter()
    c.bump()
    return c.bump(), c.read(), c.name, by_name(Holder)
"""

B = """\
from firmware.a import _shared


def twice():
    return 2 * _shared()
"""

TEST = """\
from firmware.a import Counter

assert Counter().name == "c"
"""


def _repo(tmp: Path) -> Path:
    (tmp / "firmware").mkdir()
    (tmp / "tests").mkdir()
    (tmp / "firmware" / "a.py").write_text(A)
    (tmp / "firmware" / "b.py").write_text(B)
    (tmp / "tests" / "test_a.py").write_text(TEST)
    return tmp


def test_only_names_that_nothing_outside_the_module_can_mean_are_renamed(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    table = mb.renames(root)["firmware/a.py"]
    # Its own: private names, a module constant, an attribute used only as self.x.
    assert set(table) == {"_SCALE", "LIMIT", "count", "_helper"}
    # Not: used by another module or a test (_shared, Counter, name), named in a string
    # (_named), a method also called on another object (bump), a stream method (read),
    # dunders, module-level functions (run), builtins.
    # The same short names in every module, never one the module already uses.
    assert sorted(table.values()) == ["_a", "_b", "_c", "_d"]
    assert mb.renames(root)["firmware/b.py"] == {}


def test_the_renamed_module_behaves_the_same_and_keeps_its_lines(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    new = mb.renamed_source("firmware/a.py", root)
    assert len(new.splitlines()) == len(A.splitlines())
    for name in mb.renames(root)["firmware/a.py"]:
        assert not re.search(r"\b%s\b" % name, new), name
    before: dict = {}
    after: dict = {}
    exec(compile(A, "a.py", "exec"), before)
    exec(compile(new, "a.py", "exec"), after)
    assert before["run"]() == after["run"]() == (25, 2, "c", 3)


def test_every_device_module_renamed_parses_keeps_its_lines_and_owns_its_names() -> None:
    table = mb.renames()
    names_of = {}
    lines_of = {}
    for top in mb.SCANNED:
        for p in (mb.REPO / top).rglob("*.py"):
            if "__pycache__" not in p.parts:
                text = p.read_text()
                path = p.relative_to(mb.REPO).as_posix()
                lines_of[path] = len(text.splitlines())
                names_of[path] = {t.string for t in mb._tokens(text) if t.type == tokenize.NAME}
    total = 0
    for path in sorted(table):
        new = mb.renamed_source(path)
        ast.parse(new)
        assert len(new.splitlines()) == lines_of[path], path
        for name in table[path]:
            total += 1
            assert [p for p, names in names_of.items() if name in names] == [path], name
    assert total > 200  # the firmware's own names, shared between modules


def test_the_embedded_file_name_is_the_modules_file_on_the_device(
    mpy_cross: str, tmp_path: Path
) -> None:
    out = tmp_path / "app.mpy"
    mb.compile_module(mpy_cross, "firmware/app.py", out, tmp_path / "src", root="/rom/")
    assert b"/rom/firmware/app.mpy" in out.read_bytes()
    assert b"firmware/app.py" not in out.read_bytes()
    # and mpy-cross accepted the renamed source (the file is a valid .mpy: magic "M", v6)
    assert out.read_bytes()[:2] == b"M\x06"
    subprocess.run([mpy_cross, "--version"], check=True, capture_output=True)
