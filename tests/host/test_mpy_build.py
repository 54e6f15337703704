"""tools/mpy_build.py: the device modules compiled with their names shortened and shared.

A synthetic repository shows what is renamed and what must not be; the real one shows that
every renamed module still parses, keeps its lines, and that each renamed name has one short
name in every module that uses it and shares it with no name of the same module. That the
renamed firmware works is shown end to end by the heap budget tests
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
from math import floor

_SCALE = 10
LIMIT = 5
WIDTH = const(3)


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


def scaled(amount, factor=2):
    return amount * factor


def order(items, key=None):
    return sorted(items, key=key)


def stamp(floor=None):
    return floor


def run():
    c = Counter()
    c.bump()
    return c.bump(), c.read(), c.name, by_name(Holder), scaled(factor=3, amount=WIDTH)
"""

B = """\
from firmware import a
from firmware.a import LIMIT, WIDTH, _shared, scaled


def twice(n):
    return 2 * _shared() + scaled(n, factor=LIMIT) + a.scaled(1) + WIDTH


def attributes(box):
    return box.scaled
"""

TEST = """\
from firmware.a import Counter

assert Counter().name == "c"
"""

KEPT = """\
from firmware.a import order
"""


def _repo(tmp: Path) -> Path:
    (tmp / "firmware").mkdir()
    (tmp / "tests" / "e2e").mkdir(parents=True)
    (tmp / "firmware" / "__init__.py").write_text("")
    (tmp / "firmware" / "a.py").write_text(A)
    (tmp / "firmware" / "b.py").write_text(B)
    (tmp / "tests" / "test_a.py").write_text(TEST)
    (tmp / "tests" / "e2e" / "heap_steps.py").write_text(KEPT)
    return tmp


def test_only_names_that_nothing_outside_the_device_modules_can_mean_are_renamed(
    tmp_path: Path,
) -> None:
    root = _repo(tmp_path)
    table = mb.renames(root)["firmware/a.py"]
    # A module's own: private names, a module constant, an attribute used only as self.x.
    # Shared: module-level functions and constants and the parameters of device functions,
    # even when another device module or a test (which runs the source) uses them.
    assert set(table) == {
        "_SCALE", "LIMIT", "count", "_helper", "v", "by_name", "obj",
        "_shared", "amount", "factor", "run", "items", "stamp",
    }  # fmt: skip
    # Not: a class (Counter, Holder), a name a string holds (_named), a method also called
    # on another object (bump), a stream method (read), an attribute of an object
    # (name; scaled, because b.py reads box.scaled), a keyword of a call to something the
    # device modules do not define (key, for sorted), a name imported from outside
    # (floor), a public const() another module imports (WIDTH), a name a kept file uses
    # (order: heap_steps.py runs against the compiled modules), dunders, builtins.
    b = mb.renames(root)["firmware/b.py"]
    assert set(b) == {"LIMIT", "_shared", "factor", "twice", "n", "attributes", "box"}
    # One short name per name in every module; within a module, one name per short name.
    for name in set(table) & set(b):
        assert table[name] == b[name]
    for t in (table, b):
        assert len(set(t.values())) == len(t)
    # Names that never meet in a module share short names: two modules, few of them.
    assert len(set(table.values()) | set(b.values())) == len(table)


def test_the_renamed_modules_behave_the_same_and_keep_their_lines(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    before: dict = {"const": lambda v: v}
    after: dict = {"const": lambda v: v}
    news = {}
    for mod, src in (("a", A), ("b", B)):
        new = mb.renamed_source(f"firmware/{mod}.py", root)
        assert len(new.splitlines()) == len(src.splitlines())
        for name in mb.renames(root)[f"firmware/{mod}.py"]:
            assert not re.search(r"\b%s\b" % name, new), name
        news[mod] = new
    exec(compile(A, "a.py", "exec"), before)
    exec(compile(news["a"], "a.py", "exec"), after)
    assert before["run"]() == after[mb.renames(root)["firmware/a.py"]["run"]]()
    assert before["run"]() == (25, 2, "c", 3, 9)


def test_every_device_module_renamed_parses_keeps_its_lines_and_its_names_agree() -> None:
    table = mb.renames()
    lines_of = {}
    names_of = {}
    for top in mb.DEVICE_PACKAGES:
        for p in (mb.REPO / top).rglob("*.py"):
            if "__pycache__" not in p.parts:
                text = p.read_text()
                path = p.relative_to(mb.REPO).as_posix()
                lines_of[path] = len(text.splitlines())
                names_of[path] = {t.string for t in mb._tokens(text) if t.type == tokenize.NAME}
    short_of: dict[str, str] = {}
    kept = mb._kept_names(mb.REPO)
    for path in sorted(table):
        new = mb.renamed_source(path)
        ast.parse(new)
        assert len(new.splitlines()) == lines_of[path], path
        shorts = list(table[path].values())
        assert len(set(shorts)) == len(shorts), path  # no two names of a module meet
        assert not set(shorts) & names_of[path], path  # nor a short name it already had
        for name, short in table[path].items():
            assert short_of.setdefault(name, short) == short, name  # one everywhere
            assert name not in kept, name
            # every module that uses the name renames it
            users = [p for p, names in names_of.items() if name in names]
            assert all(name in table[p] for p in users), (name, users)
    shared = [n for n in short_of if sum(n in t for t in table.values()) > 1]
    assert len(short_of) > 600 and len(shared) > 80
    assert len(set(short_of.values())) < 80  # ~690 names in ~60 short ones


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


CONSTS = """from protocol.compat import (
    const,
    is_int,
)

LIMIT = const(5)
_NAME = const("quietmile")


def check():
    return is_int(LIMIT), LIMIT * 2, _NAME
"""


def test_the_import_of_const_is_dropped_only_where_every_use_is_folded(
    mpy_cross: str, micropython: str, tmp_path: Path
) -> None:
    out = mb.without_const_import(CONSTS)
    assert "const," not in out and "from protocol.compat import is_int\n" in out
    assert len(out.splitlines()) == len(CONSTS.splitlines())  # tracebacks keep their lines
    called = CONSTS + "\n\ndef f():\n    return const(1)\n"  # a call mpy-cross does not fold
    assert mb.without_const_import(called) == called
    aliased = CONSTS.replace("    const,", "    const as c,")
    assert mb.without_const_import(aliased) == aliased
    # compiled without the name, the module runs on MicroPython: LIMIT is still a global
    (tmp_path / "protocol").mkdir()
    (tmp_path / "protocol" / "compat.py").write_text("def is_int(v):\n    return type(v) is int\n")
    (tmp_path / "m.py").write_text(out)
    subprocess.run([mpy_cross, "-o", str(tmp_path / "m.mpy"), str(tmp_path / "m.py")], check=True)
    (tmp_path / "m.py").unlink()
    run = "import m; print(m.check(), m.LIMIT, hasattr(m, 'const'))"
    proc = subprocess.run(
        [micropython, "-c", run], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "(True, 10, 'quietmile') 5 False"
    # every device module that imports const loses it on the device
    dropped = [
        p
        for p in sorted((mb.REPO / "protocol").rglob("*.py"))
        + sorted((mb.REPO / "firmware").rglob("*.py"))
        if "import" in (t := p.read_text()) and "const(" in t and mb.without_const_import(t) != t
    ]
    assert len(dropped) > 25


NAMES = """UNLOAD = ("firmware.uplink.outbox", "firmware.uplink.signed", "protocol.cbor_decode")
CODES = ("accounting_error", "invalid_segment", "period_closed", "period_full")


def run():
    return UNLOAD[0], CODES[-1], "ordinary text, not a name"
"""


def test_strings_that_could_be_names_load_as_qstrs(
    mpy_cross: str, micropython: str, tmp_path: Path
) -> None:
    out = mb.with_strings_as_names(NAMES)
    assert out.startswith(NAMES) and "    import firmware.uplink.outbox\n" in out
    assert "    accounting_error\n" in out and "ordinary" not in out[len(NAMES) :]
    assert mb.with_strings_as_names("X = 'a b'\n") == "X = 'a b'\n"  # nothing to add
    assert "import utc_offsets.from" not in mb.with_strings_as_names("X = 'utc_offsets.from'\n")
    heap = {}
    for name, src in (("plain", NAMES), ("named", out)):
        code = "import gc; gc.collect(); a = gc.mem_alloc(); import m; gc.collect()\n"
        code += "print(m.run(), gc.mem_alloc() - a)"
        out_text = _run_compiled(mpy_cross, micropython, tmp_path, src, code)
        result, heap[name] = out_text.rsplit(" ", 1)
        assert result == "('firmware.uplink.outbox', 'period_full', 'ordinary text, not a name')"
    # seven string objects fewer (16 bytes or more each), for a few entries of the qstr table
    assert int(heap["named"]) <= int(heap["plain"]) - 7 * 16, heap


def _run_compiled(mpy_cross: str, micropython: str, folder: Path, src: str, code: str) -> str:
    """``code``'s output under MicroPython, with ``src`` compiled to ``m.mpy`` in ``folder``
    (importable as ``m``, and only as the .mpy)."""
    (folder / "m.py").write_text(src)
    subprocess.run([mpy_cross, "-o", str(folder / "m.mpy"), str(folder / "m.py")], check=True)
    (folder / "m.py").unlink()
    proc = subprocess.run(
        [micropython, "-c", code], cwd=folder, capture_output=True, text=True, check=True
    )
    return proc.stdout


MESSAGES = """class Refused(ValueError):
    pass


def fail(message, where=None):
    return "failed: " + message


def check(n, text):
    if n == 5:
        return fail("a recorded failure, not raised", where="check")
    if n == 6:
        return repr(Refused("an error made outside a raise"))
    if n < 0:
        raise Refused("count must not be negative: %d" % n)
    if n > 9:
        raise Refused(
            "count over the limit "
            "of nine: %d" % n
        )
    assert text, "the text must not be empty"
    if text == "f":
        raise Refused(f"an f-string message {text!r}")
    if text == "é":
        raise Refused("accents stay as they are: é, ü, ß")
    if text == "short":
        raise Refused("short")
    return "%s×%d" % (text, n)
"""


def test_raise_and_assert_messages_are_cut_from_one_string(
    mpy_cross: str, micropython: str, tmp_path: Path
) -> None:
    out = mb.with_messages_in_one_string(MESSAGES, {"Refused", "ValueError", "fail"})
    assert len(out.splitlines()) == len(MESSAGES.splitlines())  # tracebacks keep their lines
    assert out.count("[") >= 6 and 'Refused("count must not be negative' not in out
    # the arguments of calls to error classes and failing functions are cut too, not others
    assert 'fail("a recorded' not in out and 'where="check"' in out  # short: as it was
    assert 'Refused("an error made outside' not in out
    only_raised = mb.with_messages_in_one_string(MESSAGES)
    assert 'fail("a recorded' in only_raised and 'Refused("an error made outside' in only_raised
    assert 'Refused("count must not be negative' not in only_raised
    assert 'f"an f-string message {text!r}"' in out and 'Refused("short")' in out  # as they were
    one = "def f(x):\n    raise ValueError('the only long message here')\n"
    assert mb.with_messages_in_one_string(one) == one  # nothing to share
    calls = [(-1, "a"), (12, "a"), (3, ""), (3, "f"), (3, "é"), (3, "short"), (3, "ok")]
    calls += [(5, "a"), (6, "a")]
    code = "import gc; gc.collect(); a = gc.mem_alloc(); import m; gc.collect()\n"
    code += "b = gc.mem_alloc() - a\n"
    code += "for n, t in %r:\n" % calls
    code += "    try:\n        print(repr(m.check(n, t)))\n"
    code += "    except Exception as e:\n        print(type(e).__name__, repr(str(e)))\n"
    code += "print(b)\n"
    seen = {}
    for name, src in (("plain", MESSAGES), ("one", out)):
        *results, heap = _run_compiled(mpy_cross, micropython, tmp_path, src, code).splitlines()
        seen[name] = (results, int(heap))
    assert seen["one"][0] == seen["plain"][0]  # the same errors with the same messages
    assert seen["plain"][0][:3] == [
        "Refused 'count must not be negative: -1'",
        "Refused 'count over the limit of nine: 12'",
        "AssertionError 'the text must not be empty'",
    ]
    assert seen["plain"][0][-2] == "'failed: a recorded failure, not raised'"
    assert "an error made outside a raise" in seen["plain"][0][-1]
    # sliced by characters, not bytes (MicroPython's repr escapes them)
    assert "Refused 'accents stay as they are: \\xe9, \\xfc, \\xdf'" in seen["one"][0]
    # six messages in one string object: five objects fewer (16 bytes or more each)
    assert seen["one"][1] <= seen["plain"][1] - 5 * 16, seen
    # every device module with two messages or more is so compiled
    cut = [
        p
        for p in sorted((mb.REPO / "protocol").rglob("*.py"))
        + sorted((mb.REPO / "firmware").rglob("*.py"))
        if mb.with_messages_in_one_string(p.read_text()) != p.read_text()
    ]
    assert len(cut) > 30
    # the device's own exception classes are known as such, through their bases
    errors = mb.error_classes()
    assert {"ValueError", "OSError", "PolicyError", "LedgerError"} <= errors
    assert not {"Segment", "TariffPolicy", "App"} & errors
