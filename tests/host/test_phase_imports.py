"""What each phase of the OBU's day imports (DESIGN §8, README "Memory"): a sync's network phase
runs while the driving code is set aside (firmware/stow.py drops its modules), so the network
modules must not bring any of it back; and the commit path loads neither ristretto's group law
nor pedersen's checks. Checked in a fresh interpreter — the real MicroPython binary and
CPython — since what a module imports is what its import loads there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from firmware import stow
from tests.conftest import MICROPYTHON, REPO

# The modules a sync's uplink, challenge answers and dispute polls import while the driving
# objects are stowed (firmware/app_network.py network_phase).
NETWORK = (
    "firmware.uplink.http",
    "firmware.uplink.outbox",
    "firmware.uplink.sealed",
    "firmware.uplink.signed",
    "firmware.challenges",
    "firmware.opening",
    "protocol.exchange",
    "protocol.cose",
    "protocol.envelopes",
)
COMMIT = ("firmware.commit", "protocol.pedersen")


def _loaded_after(interpreter: str, modules: tuple[str, ...], then: str = "") -> set[str]:
    code = (
        "import sys\nsys.path.insert(0, '.')\n"
        + "".join("import %s\n" % m for m in modules)
        + then
        + "print(' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [interpreter, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def _interpreters() -> list[str]:
    return [sys.executable] + ([MICROPYTHON] if MICROPYTHON else [])


@pytest.mark.parametrize("interpreter", _interpreters(), ids=lambda p: p.rsplit("/", 1)[-1])
def test_the_network_phase_loads_none_of_the_driving_code(interpreter: str) -> None:
    loaded = _loaded_after(interpreter, NETWORK)
    assert "protocol.message_base" in loaded  # the messages' base, without the record
    assert sorted(loaded & set(stow.MODULES)) == []


@pytest.mark.parametrize("interpreter", _interpreters(), ids=lambda p: p.rsplit("/", 1)[-1])
def test_committing_loads_neither_the_group_law_nor_the_checks(interpreter: str) -> None:
    then = "from protocol import pedersen\npedersen.commit(5, pedersen.random_blind(bytes))\n"
    loaded = _loaded_after(interpreter, COMMIT, then)
    assert "protocol.ristretto" in loaded
    assert not loaded & {"protocol.ristretto_group", "protocol.pedersen_check"}
