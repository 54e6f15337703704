"""`make device-bundle` (tools/device_bundle.py): every device module compiled with mpy-cross,
entry points and data files present, the checksum manifest verifies, and the bytecode loads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tools import device_bundle as db


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, mpy_cross: str) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "device-bundle"
    db.build(out, mpy_cross)
    return out


def test_every_module_compiled(bundle: Path) -> None:
    modules = db.device_modules()
    assert "protocol/p256.py" in modules and "firmware/board/atecc608.py" in modules
    assert "firmware/board/host.py" in modules
    for rel in modules:
        mpy = bundle / (rel[:-3] + ".mpy")
        assert mpy.is_file() and mpy.read_bytes()[:1] == b"M", rel  # .mpy magic byte
    # Nothing but .mpy under the packages: no source shipped by accident.
    for pkg in db.PACKAGES:
        assert all(p.suffix == ".mpy" for p in (bundle / pkg).rglob("*") if p.is_file())
    assert not (bundle / "firmware" / "host_main.mpy").exists()
    # Every .py of the packages is either compiled or deliberately excluded.
    all_py = {
        p.relative_to(REPO).as_posix() for pkg in db.PACKAGES for p in (REPO / pkg).rglob("*.py")
    }
    assert all_py == set(modules) | db.EXCLUDE


def test_entry_points_and_data(bundle: Path) -> None:
    assert (bundle / "main.py").read_bytes() == (REPO / "firmware/main.py").read_bytes()
    assert (bundle / "boot.py").read_bytes() == (REPO / "firmware/boot.py").read_bytes()
    assert (bundle / "config.example.json").is_file()
    assert (bundle / "pinmap.json").read_bytes() == (REPO / "hardware/pinmap.json").read_bytes()


def test_manifest_verifies_and_catches_tampering(bundle: Path, tmp_path: Path) -> None:
    assert db.verify_manifest(bundle) == []
    listed = (bundle / db.MANIFEST).read_text().splitlines()
    assert len(listed) == sum(1 for p in bundle.rglob("*") if p.is_file()) - 1
    proc = subprocess.run(["sha256sum", "--quiet", "-c", db.MANIFEST], cwd=bundle)
    assert proc.returncode == 0
    # A tampered copy fails.
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(bundle), str(copy)], check=True)
    (copy / "main.py").write_text("print('evil')\n")
    (copy / "extra.py").write_text("")
    problems = db.verify_manifest(copy)
    assert "checksum mismatch: main.py" in problems and "not in manifest: extra.py" in problems


def test_bytecode_runs_under_micropython(bundle: Path, micropython: str) -> None:
    code = (
        "import sys\nsys.path.insert(0, '.')\n"
        "from protocol import p256\nfrom firmware.board import atecc608\n"
        "assert p256.__file__.endswith('.mpy')\n"
        "print(atecc608.crc16(b'\\x04\\x11'), p256.verify(p256.public_key(7), b'm', "
        "p256.sign(7, b'm')))\n"
    )
    proc = subprocess.run(
        [micropython, "-c", code], cwd=bundle, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["17203", "True"]


def test_refuses_to_clobber_a_foreign_folder(tmp_path: Path, mpy_cross: str) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit):
        db.build(tmp_path, mpy_cross)
    assert (tmp_path / "precious.txt").exists()
