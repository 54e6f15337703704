"""Compile the device modules (protocol/, firmware/) to .mpy with fewer qstrs.

MicroPython interns every name a module uses — function, method, attribute, argument and
global names, short string constants, the module's name and file name — in qstr pools that are
never freed; a full pool is followed by one twice its size (on the unix and WebAssembly ports,
past 1,270 names, a pool of 1,280 entries: 9 KB at once on a 32-bit port, 14 KB at 64 bits).
Most names need not be spelled out on the device, so before mpy-cross compiles a module its
names are renamed ``_a``, ``_b``, …: each name gets the first short name that no other renamed
name of the modules it occurs in has taken, so a name is spelled the same in every module that
uses it and one short name stands for many names that never meet in a module — ~60 qstrs for
~690 names. The day's loop interned 1,596 names with plain mpy-cross, ~1,290 with only the
modules' own names renamed, and ~1,060 so built: below 1,270, so no 1,280-entry pool at all.

Two kinds of names are renamed, both only when nothing outside the device modules can mean
them — never a dunder, a name that is the whole of a string literal anywhere in the repository
(``getattr(obj, "_x")``, ``"mod._x"``), a name of a file that runs against the compiled modules
or ships as source beside them (:data:`KEPT`), or a name in the code of the docs (board
snippets run over mpremote):

- a module's own names (:func:`_own_names`), which occur as a name token in exactly one Python
  file of the whole repository (tests, backend, simulator, tools and bench included): private
  names (``_x``), constants it assigns at column 0 (``LIMIT = …``), and attributes and methods
  of its classes that are only ever used as ``self.x``/``cls.x`` or defined with ``def x`` —
  except the stream and board methods that C code or other objects call by name
  (``_PROTOCOL_METHODS``);
- names the device modules share (:func:`_shared_names`): module-level functions and
  variables and function parameters that protocol/ or firmware/ define, which tests, backend
  and simulator may use too, because they run the source. Never a class (its name shows in
  tracebacks and messages), a module, a builtin, a name a board driver uses (firmware/board/
  is MicroPython's and the drivers' vocabulary), a name imported from outside, a keyword of a
  call to something the device modules do not define, a public ``const()`` another module
  imports (renamed private, mpy-cross would fold it away), or an attribute of anything but a
  device module: two renamed names sharing a short name could meet on one object.

A module's import of ``const`` is dropped where mpy-cross folds every use of it
(:func:`without_const_import`): one global less in every module that has constants. And the
module's string constants that could be names (module names in unload lists and lazy
tables, error codes) are named once more in a block that never runs
(:func:`with_strings_as_names`): then they are in its qstr table, and MicroPython loads them
as qstrs instead of string objects (−0.9 KB at boot, −1.5 KB at a sync's peak, at 64 bits,
for ~70 more qstrs). The messages of its ``raise`` and ``assert`` statements are cut from
one string constant of the module (:func:`with_messages_in_one_string`): one object where
there was one per message, ~345 messages in ~45 modules (−2.4 KB at boot, −5.7 KB at a sync's
peak, at 64 bits). (Not the
``TYPE_CHECKING = False`` of the modules with lazily served names: the identifiers of its
guarded imports are what makes mpy-cross store the lazy tables' strings as qstrs; without
them, 41 more string objects at boot, +0.9 KB.)

Tracebacks stay readable: renaming is token by token, so line numbers do not move, and the
file name embedded with ``-s`` is the module's ``__file__`` on the device (one qstr for the
two); :func:`renames` gives the table to read a renamed name back.

Used by ``make device-bundle`` (tools/device_bundle.py) and by the heap budget tests and bench
(tests/e2e/heap_support.py), so what is measured is what is deployed.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import subprocess
import tokenize
from collections.abc import Collection
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


# Files that run against the compiled modules or are shipped as source beside them: every name
# they use keeps its spelling. Python snippets in the builders' docs (run on a board over
# mpremote) count too: see _doc_names.
KEPT = (
    "firmware/main.py",
    "firmware/boot.py",
    "tests/e2e/heap_steps.py",
    "tests/e2e/heap_steps_unix.py",
    "tests/e2e/heap_child.py",
    "tests/e2e/rom_main.py",
    "tests/e2e/tables_probe.py",
    "tests/e2e/wasm_heap.mjs",
)
KEPT_DOCS = ("hardware", "firmware", "protocol", "README.md")
# The hardware abstraction: its names are the boards' drivers' and MicroPython's own.
BOARD = "firmware/board/"
_FENCE = re.compile(r"```.*?```", re.S)
_INLINE = re.compile(r"`[^`\n]+`")


@cache
def renames(root: Path = REPO) -> dict[str, dict[str, str]]:
    """{path of a device module relative to ``root``: {name: short name}}.

    Two kinds of names are renamed (:func:`_own_names`, :func:`_shared_names`); each gets
    the first short name that none of the modules it occurs in already gives to another name
    or uses, so a name means the same short name in every module, and one short name stands
    for many names that never meet in a module."""
    texts: dict[str, str] = {}
    for top in SCANNED:
        for p in sorted((root / top).rglob("*.py")):
            if "__pycache__" not in p.parts:
                texts[p.relative_to(root).as_posix()] = p.read_text()
    files = {path: _tokens(text) for path, text in texts.items()}
    where: dict[str, set[str]] = {}
    in_strings: set[str] = set()
    for path, toks in files.items():
        for t in toks:
            if t.type == tokenize.NAME:
                where.setdefault(t.string, set()).add(path)
            elif t.type == tokenize.STRING:
                in_strings.update(_names_in_string(t.string))
    device = {p: toks for p, toks in files.items() if p.startswith(DEVICE_PACKAGES)}
    trees = {p: ast.parse(texts[p]) for p in device}
    used = {p: {t.string for t in toks if t.type == tokenize.NAME} for p, toks in device.items()}
    # name -> the device modules it is renamed in
    chosen: dict[str, set[str]] = {}
    kept = _kept_names(root)
    for path, toks in device.items():
        for name in _own_names(toks):
            if (
                not name.startswith("__")
                and where.get(name) == {path}
                and name not in in_strings
                and name not in kept
            ):
                chosen[name] = {path}
    for name in _shared_names(root, device, trees, in_strings):
        chosen.setdefault(name, {p for p in device if name in used[p]})
    # First use order within the biggest sets first: deterministic, and the widely shared
    # names take the shortest short names.
    first: dict[str, tuple[str, int]] = {}
    for path, toks in device.items():
        for i, t in enumerate(toks):
            if t.type == tokenize.NAME and t.string in chosen:
                first.setdefault(t.string, (path, i))
    taken: dict[str, set[str]] = {p: set(used[p]) for p in device}
    out: dict[str, dict[str, str]] = {p: {} for p in device}
    for name in sorted(chosen, key=lambda n: (-len(chosen[n]), first[n])):
        mods = chosen[name]
        short = next(s for s in _short_names() if not any(s in taken[m] for m in mods))
        for m in mods:
            taken[m].add(short)
            out[m][name] = short
    return out


def _shared_names(
    root: Path,
    device: dict[str, list[tokenize.TokenInfo]],
    trees: dict[str, ast.Module],
    in_strings: set[str],
) -> set[str]:
    """Names the device modules share that only they can mean: module-level functions and
    variables and function parameters defined in protocol/ or firmware/ — never a class (its
    name shows in tracebacks), a module, a dunder, a builtin or a name a string holds — that
    no kept file or board driver uses, that are never an attribute of anything but a device
    module (an attribute of an object could meet another renamed name on that object), never
    a keyword argument of a call to something the device modules do not define, never
    imported from outside, and not a public ``const()`` another module imports (renamed
    private, mpy-cross would fold it away)."""
    defined: set[str] = set()
    callables: set[str] = set()
    bad: set[str] = set(dir(builtins)) | _PROTOCOL_METHODS | {"const", "self", "cls", "_"}
    consts: dict[str, str] = {}
    modules = {Path(p).with_suffix("").as_posix().replace("/", ".") for p in device}
    modules |= {m[: -len(".__init__")] for m in modules if m.endswith(".__init__")}
    for p in device:
        bad.update(Path(p).with_suffix("").parts)
    for path, tree in trees.items():
        aliases: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in modules:
                        aliases.add(a.asname or a.name.split(".")[0])
                    else:
                        bad.add(a.asname or a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(path, node.module, node.level)
                for a in node.names:
                    if source + "." + a.name in modules:
                        aliases.add(a.asname or a.name)
                    elif source not in modules:
                        bad.update((a.name, a.asname or a.name))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defined.add(node.name)
            if not isinstance(node, ast.Assign):
                continue
            v = node.value
            is_const = isinstance(v, ast.Call) and getattr(v.func, "id", "") == "const"
            for tg in node.targets:
                for n in ast.walk(tg):
                    if isinstance(n, ast.Name):
                        defined.add(n.id)
                        if is_const:
                            consts[n.id] = path
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bad.add(node.name)
                callables.add(node.name)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                if not isinstance(node, ast.Lambda):
                    callables.add(node.name)
                args = node.args
                params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                params += [p for p in (args.vararg, args.kwarg) if p is not None]
                defined.update(p.arg for p in params)
            elif isinstance(node, ast.Attribute) and not _module_ref(node.value, aliases):
                bad.add(node.attr)
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                callee = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
                if callee not in callables:
                    bad.update(k.arg for k in node.keywords if k.arg)
    for path, toks in device.items():
        if path.startswith(BOARD):
            bad.update(t.string for t in toks if t.type == tokenize.NAME)
    names_in = {
        p: {t.string for t in toks if t.type == tokenize.NAME} for p, toks in device.items()
    }
    for name, path in consts.items():
        if any(name in names for p, names in names_in.items() if p != path):
            bad.add(name)
    bad |= _kept_names(root)
    return {n for n in defined - bad if not n.startswith("__") and n not in in_strings}


def _absolute(path: str, module: str | None, level: int) -> str:
    """The module ``from <level dots><module> import …`` in the file ``path`` names."""
    if not level:
        return module or ""
    package = Path(path).parent.parts[: len(Path(path).parent.parts) - (level - 1)]
    return ".".join([*package, *([module] if module else [])])


def _module_ref(node: ast.expr, aliases: set[str]) -> bool:
    """Is ``node`` a device module (``cbor``, ``protocol.cbor``) as the file imported it?"""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name) and node.id in aliases


@cache
def _kept_names(root: Path) -> frozenset[str]:
    """Every word of the kept files and of the code in the builders' and users' docs."""
    words: set[str] = set()
    for rel in KEPT:
        p = root / rel
        if p.exists():
            words.update(_WORD.findall(p.read_text()))
    for rel in KEPT_DOCS:
        p = root / rel
        for doc in sorted(p.rglob("*.md")) if p.is_dir() else [p] if p.exists() else []:
            text = doc.read_text()
            code = _FENCE.findall(text) + _INLINE.findall(text)
            code += [line for line in text.splitlines() if line.startswith("    ")]
            for c in code:
                words.update(_WORD.findall(c))
    return frozenset(words)


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
    """The module's source with its names renamed (:func:`renames`); lines and columns of
    everything else unchanged (each renamed token is replaced in place)."""
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


def without_const_import(text: str) -> str:
    """``text`` without its import of ``const`` when mpy-cross folds every ``const()`` call
    in it (``NAME = const(...)`` at module level: the name is then never looked up on the
    device). The import cost each module a global, and with it, for some, the next size of
    module dict (a 47-entry table, 752 bytes at 64 bits, instead of 37 for
    protocol.ristretto) — a block the commit path's import after a sync must find. The
    import's lines are kept (as blank lines where nothing is left): line numbers do not
    move."""
    tree = ast.parse(text)
    folded = {
        id(n.value.func)
        for n in tree.body
        if isinstance(n, ast.Assign)
        and len(n.targets) == 1
        and isinstance(n.targets[0], ast.Name)
        and isinstance(n.value, ast.Call)
        and isinstance(n.value.func, ast.Name)
        and n.value.func.id == "const"
    }
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id == "const" and id(n) not in folded:
            return text  # used otherwise: the name must exist on the device
    for node in tree.body:
        if not (
            isinstance(node, ast.ImportFrom)
            and node.module in ("protocol.compat", "micropython")
            and any(a.name == "const" and a.asname is None for a in node.names)
        ):
            continue
        rest = [a.name + (" as " + a.asname if a.asname else "") for a in node.names]
        rest.remove("const")
        lines = text.splitlines(keepends=True)
        first, last = node.lineno, node.end_lineno or node.lineno
        lines[first - 1] = "from %s import %s\n" % (node.module, ", ".join(rest)) if rest else "\n"
        for i in range(first, last):
            lines[i] = "\n"
        return "".join(lines)
    return text


_NAME_LIKE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")


def with_strings_as_names(text: str) -> str:
    """``text`` with a block appended that never runs and names the module's string constants
    that could be names — identifiers and dotted module names: ``"firmware.commit"``,
    ``"accounting_error"`` — as an import or a name, so that they are in the module's qstr
    table.

    When MicroPython loads a .mpy it interns the module's qstr table first, then makes its
    constant objects, and a string constant whose text is already a qstr costs no object
    (32 bytes at 64 bits, 16 at 32, and its slot). Lists of module names (what a phase
    unloads, what a package serves lazily) and the error classes' codes are such strings;
    mpy-cross keeps those longer than 10 characters, and any inside a tuple, as string
    objects. The block (``if __name__ is None:``) is compiled but never runs; appended, it
    moves no line."""
    tree = ast.parse(text)
    docs = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    found: list[str] = []
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.Constant)
            and isinstance(n.value, str)
            and id(n) not in docs
            and _NAME_LIKE.match(n.value)
            and not any(keyword.iskeyword(part) for part in n.value.split("."))
            and n.value not in found
        ):
            found.append(n.value)
    if not found:
        return text
    lines = ["\n\nif __name__ is None:  # never: names for the qstr table (tools/mpy_build.py)\n"]
    for name in found:
        lines.append(("    import %s\n" if "." in name else "    %s\n") % name)
    return text + ("" if text.endswith("\n") else "\n") + "".join(lines)


_INTERNED_LEN = 10  # mpy-cross interns string constants up to this many bytes (as qstrs)


_FAILING = ("fail", "_fail")  # device functions that raise or record an error, by name


@cache
def error_classes(root: Path = REPO) -> frozenset[str]:
    """Names of the builtin exceptions and of the exception classes that protocol/ and
    firmware/ define (a base is a builtin exception or one of them)."""
    known = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)}
    known = {n for n in known if issubclass(getattr(builtins, n), BaseException)}
    bases: dict[str, set[str]] = {}
    for pkg in ("protocol", "firmware"):
        for path in sorted((root / pkg).rglob("*.py")):
            for n in ast.walk(ast.parse(path.read_text())):
                if isinstance(n, ast.ClassDef):
                    names = {
                        b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in n.bases
                    }
                    bases.setdefault(n.name, set()).update(names)
    errors: set[str] = set()
    while True:
        more = {c for c, bs in bases.items() if c not in errors and bs & (known | errors)}
        if not more:
            return frozenset(errors | known)
        errors |= more


def with_messages_in_one_string(text: str, failing: Collection[str] = ()) -> str:
    """``text`` with the messages of its errors cut from one string constant: each string
    longer than 10 bytes that is not a name, written inside a ``raise``'s exception, an
    ``assert``'s message or the arguments of a call to one of ``failing`` (exception classes,
    functions that raise or record an error) becomes a slice of one string that holds all of
    them, ``"…all the messages…"[a:b]`` (the same text, made only when the error is).

    MicroPython makes every string constant of a module an object when it loads the module
    (32 bytes at 64 bits, 16 at 32, and a slot of the module's constant table; from ROMFS
    the text stays in flash), though an error message is needed only when its error happens
    — in a unit in good order, never. mpy-cross stores equal constants once, so the one
    string is one object for all the module's messages. Modules with fewer than two such
    messages are left as they are. Each replacement keeps its lines (a message written over
    several lines becomes a parenthesised slice over as many), so line numbers do not
    move."""
    tree = ast.parse(text)
    in_fstring = {
        id(part)
        for n in ast.walk(tree)
        if isinstance(n, ast.JoinedStr)
        for part in ast.walk(n)
        if part is not n
    }
    found: dict[int, tuple[ast.Constant, str]] = {}  # by id: a call inside a raise is met twice
    for n in ast.walk(tree):
        if isinstance(n, ast.Raise) and n.exc is not None:
            where: ast.expr | None = n.exc
        elif isinstance(n, ast.Assert):
            where = n.msg
        elif isinstance(n, ast.Call) and _callee(n) in failing:
            where = ast.Tuple(elts=[*n.args, *(k.value for k in n.keywords)])
        else:
            continue
        if where is None:
            continue
        for m in ast.walk(where):
            if (
                isinstance(m, ast.Constant)
                and isinstance(m.value, str)
                and id(m) not in in_fstring
                and len(m.value.encode()) > _INTERNED_LEN
                and not _NAME_LIKE.match(m.value)
            ):
                found[id(m)] = (m, m.value)
    messages = list(dict.fromkeys(msg for _, msg in found.values()))
    if len(messages) < 2:
        return text
    blob = "".join(messages)
    start: dict[str, int] = {}
    at = 0
    for msg in messages:
        start[msg] = at
        at += len(msg)
    literal = repr(blob)
    lines = [line.encode() for line in text.splitlines(keepends=True)]
    spots = sorted(found.values(), key=lambda f: (f[0].lineno, f[0].col_offset), reverse=True)
    for m, msg in spots:
        first, last = m.lineno - 1, (m.end_lineno or m.lineno) - 1
        c0, c1 = m.col_offset, m.end_col_offset or 0
        a = start[msg]
        cut = "%s[%d:%d]" % (literal, a, a + len(msg))
        if last > first:
            cut = "(" + cut + "\n" * (last - first) + ")"
        lines[first] = lines[first][:c0] + cut.encode() + lines[last][c1:]
        del lines[first + 1 : last + 1]
    return b"".join(lines).decode()


def _callee(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def compile_module(mpy_cross: str, path: str, out: Path, work: Path, root: str = "") -> None:
    """``path`` (repository-relative) compiled to ``out`` with its names renamed.

    The file name embedded for tracebacks is the one the module's ``__file__`` will have on
    the device — ``root`` + ``firmware/app.mpy``, ``root`` being where the package folders
    lie on the import path ("" for the filesystem's root, "/rom/" for a ROMFS partition) — so
    the two are one qstr instead of two."""
    src = work / path
    src.parent.mkdir(parents=True, exist_ok=True)
    text = without_const_import(renamed_source(path))
    table = renames().get(path, {})
    failing = error_classes() | {table.get(n, n) for n in _FAILING}
    src.write_text(with_strings_as_names(with_messages_in_one_string(text, failing)))
    out.parent.mkdir(parents=True, exist_ok=True)
    shown = root + path[: -len(".py")] + ".mpy"
    proc = subprocess.run(
        [mpy_cross, "-s", shown, "-o", str(out), str(src)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise MpyCrossFailed("mpy-cross failed on %s:\n%s" % (path, proc.stderr))


class MpyCrossFailed(RuntimeError):
    """mpy-cross refused a module (its message says why)."""
