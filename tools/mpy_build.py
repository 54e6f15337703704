"""Compile the device modules (protocol/, firmware/) to .mpy with fewer qstrs.

MicroPython interns every name a module uses — function, method, attribute, argument and
global names, short string constants, the module's name and file name — in qstr pools that are
never freed; a full pool is followed by one twice its size (on the unix and WebAssembly ports,
past 1,270 names, a pool of 1,280 entries: 9 KB at once on a 32-bit port, 14 KB at 64 bits).
Names that only one module uses need not differ between modules, so before mpy-cross compiles
a module its own names are renamed ``_a``, ``_b``, … in order of first use, the same short
names in every module: a handful of qstrs for the whole firmware instead of one per name. The
day's loop interned 1,596 names with plain mpy-cross and interns ~1,290 so built.

A name is renamed only if nothing outside the module can mean it:

- it occurs as a name token in exactly one Python file of the whole repository (tests,
  backend, simulator, tools and bench included: a test that imports
  ``firmware.host_main._connect`` keeps that name);
- it is never the whole of a string literal anywhere (``getattr(obj, "_x")``, ``"mod._x"``);
- it is the module's own: private (``_x``, not a dunder), a constant the module assigns at
  column 0 (``LIMIT = …``), or an attribute or method of its classes that is only ever used as
  ``self.x``/``cls.x`` or defined with ``def x`` — except the stream and board methods that C
  code or other objects call by name (``_PROTOCOL_METHODS``).

Tracebacks stay readable: renaming is token by token, so line numbers do not move, and the
file name embedded with ``-s`` is the module's ``__file__`` on the device (one qstr for the
two); :func:`renames` gives the table to read a renamed name back.

Used by ``make device-bundle`` (tools/device_bundle.py) and by the heap budget tests and bench
(tests/e2e/heap_support.py), so what is measured is what is deployed.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEVICE_PACKAGES = ("protocol", "firmware")
SCANNED = ("protocol", "firmware", "backend", "simulator", "tools", "tests", "bench")
_PRIVATE = re.compile(r"_[A-Za-z0-9]\w*\Z")
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]+\Z")
# Methods that other code calls by name without naming them in this repository: MicroPython's
# stream protocol and the board objects' interfaces (kept even when only one module has them).
_PROTOCOL_METHODS = {
    "read",
    "readinto",
    "readline",
    "write",
    "close",
    "flush",
    "ioctl",
    "send",
    "recv",
    "sendall",
    "recv_into",
    "settimeout",
    "tick",
    "feed",
    "deinit",
    "value",
    "on",
    "off",
}
_WORD = re.compile(r"[A-Za-z_]\w*")
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


def _short_names():
    """_a … _z, _A … _Z, _a0 … (never a dunder, never ``_``)."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    yield from ("_" + c for c in letters)
    n = 0
    while True:
        yield from ("_%s%d" % (c, n) for c in letters)
        n += 1


def _names_in_string(literal: str) -> list[str]:
    """Names a string literal could stand for when code looks them up by string: the literal
    is a bare name or a dotted path (``"_x"``, ``"mod._x"``); prose (docstrings, messages) and
    f-strings' text are not, but an f-string's replacement fields are scanned as code."""
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):  # an f-string: look at every word
        return _WORD.findall(literal)
    if isinstance(value, str) and _DOTTED.match(value):
        return value.split(".")
    return []


def _tokens(text: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(text).readline))


@cache
def renames(root: Path = REPO) -> dict[str, dict[str, str]]:
    """{path of a device module relative to ``root``: {own name: short name}}."""
    files: dict[str, list[tokenize.TokenInfo]] = {}
    for top in SCANNED:
        for p in sorted((root / top).rglob("*.py")):
            if "__pycache__" not in p.parts:
                files[p.relative_to(root).as_posix()] = _tokens(p.read_text())
    where: dict[str, set[str]] = {}
    in_strings: set[str] = set()
    for path, toks in files.items():
        for t in toks:
            if t.type == tokenize.NAME:
                where.setdefault(t.string, set()).add(path)
            elif t.type == tokenize.STRING:
                in_strings.update(_names_in_string(t.string))
    out: dict[str, dict[str, str]] = {}
    for path, toks in files.items():
        if not path.startswith(DEVICE_PACKAGES):
            continue
        own = _own_names(toks)
        used = {t.string for t in toks if t.type == tokenize.NAME}
        table: dict[str, str] = {}
        short = (s for s in _short_names() if s not in used)
        for t in toks:
            name = t.string
            if (
                t.type == tokenize.NAME
                and name not in table
                and name in own
                and not name.startswith("__")
                and where.get(name) == {path}
                and name not in in_strings
            ):
                table[name] = next(short)
        out[path] = table
    return out


def _own_names(toks: list[tokenize.TokenInfo]) -> set[str]:
    """Names of a module that only it can mean: private ones (``_x``); constants it assigns at
    module level (``NAME = …`` at column 0, all capitals); and attributes and methods of its
    own classes, when every use is ``self.x``/``cls.x`` or ``def x`` — except the stream and
    board protocol methods that C code or other objects call by name."""
    uses: dict[str, set[str]] = {}
    own: set[str] = set()
    for i, t in enumerate(toks):
        if t.type != tokenize.NAME:
            continue
        name = t.string
        if _PRIVATE.match(name):
            own.add(name)
            continue
        prev = toks[i - 1].string if i else ""
        nxt = toks[i + 1].string if i + 1 < len(toks) else ""
        if _CONSTANT.match(name) and t.start[1] == 0 and nxt == "=":
            own.add(name)
        if prev == "." and i > 1 and toks[i - 2].string in ("self", "cls"):
            kind = "attr"
        elif prev == "def" and t.start[1] > 4:  # a method (module-level functions are not)
            kind = "def"
        else:
            kind = "other"
        uses.setdefault(name, set()).add(kind)
    for name, kinds in uses.items():
        if "other" not in kinds and name not in _PROTOCOL_METHODS:
            own.add(name)
    return own


def renamed_source(path: str, root: Path = REPO) -> str:
    """The module's source with its own names renamed; lines and columns of everything else
    unchanged (each renamed token is replaced in place)."""
    text = (root / path).read_text()
    table = renames(root).get(path, {})
    if not table:
        return text
    lines = text.splitlines(keepends=True)
    # Replace right to left within a line so earlier columns stay valid.
    edits = [
        (t.start[0], t.start[1], t.end[1], table[t.string])
        for t in _tokens(text)
        if t.type == tokenize.NAME and t.string in table
    ]
    for row, c0, c1, new in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:c0] + new + line[c1:]
    return "".join(lines)


def compile_module(mpy_cross: str, path: str, out: Path, work: Path, root: str = "") -> None:
    """``path`` (repository-relative) compiled to ``out`` with its own names renamed.

    The file name embedded for tracebacks is the one the module's ``__file__`` will have on
    the device — ``root`` + ``firmware/app.mpy``, ``root`` being where the package folders
    lie on the import path ("" for the filesystem's root, "/rom/" for a ROMFS partition) — so
    the two are one qstr instead of two."""
    src = work / path
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(renamed_source(path))
    out.parent.mkdir(parents=True, exist_ok=True)
    shown = root + path[: -len(".py")] + ".mpy"
    proc = subprocess.run(
        [mpy_cross, "-s", shown, "-o", str(out), str(src)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise MpyCrossFailed("mpy-cross failed on %s:\n%s" % (path, proc.stderr))


class MpyCrossFailed(RuntimeError):
    """mpy-cross refused a module (its message says why)."""
