"""firmware/gnss/ubx.py against pyubx2, an independent UBX encoder/decoder (dev extras).

The device code builds its frames by hand; here pyubx2 encodes the same messages from its own
configuration database (key names, not IDs) and decodes the firmware's, so a wrong key ID,
size, byte order or checksum shows up. The pinned frames of tests/firmware/test_ubx.py (which
also runs under MicroPython, where pyubx2 does not) are re-derived too.
"""

from __future__ import annotations

import pytest

from firmware.gnss import ubx
from tests.firmware import test_ubx as pinned

pyubx2 = pytest.importorskip("pyubx2", reason="pyubx2 is in the dev extras")

NAMES = {
    "CFG_RATE_MEAS": ubx.CFG_RATE_MEAS,
    "CFG_RATE_NAV": ubx.CFG_RATE_NAV,
    "CFG_UART1_BAUDRATE": ubx.CFG_UART1_BAUDRATE,
    "CFG_UART2_BAUDRATE": ubx.CFG_UART2_BAUDRATE,
    "CFG_MSGOUT_NMEA_ID_GGA_UART1": ubx.MSGOUT_GGA_UART1,
    "CFG_MSGOUT_NMEA_ID_RMC_UART1": ubx.MSGOUT_RMC_UART1,
    "CFG_MSGOUT_NMEA_ID_GSA_UART1": ubx.MSGOUT_GSA_UART1,
    "CFG_MSGOUT_NMEA_ID_GSV_UART1": ubx.MSGOUT_GSV_UART1,
    "CFG_MSGOUT_NMEA_ID_VTG_UART1": ubx.MSGOUT_VTG_UART1,
    "CFG_MSGOUT_NMEA_ID_GLL_UART1": ubx.MSGOUT_GLL_UART1,
    "CFG_MSGOUT_NMEA_ID_GGA_UART2": ubx.MSGOUT_GGA_UART1 + 1,
    "CFG_MSGOUT_NMEA_ID_GSV_UART2": ubx.MSGOUT_GSV_UART1 + 1,
}


def _by_id() -> dict[int, str]:
    return {v[0]: k for k, v in pyubx2.UBX_CONFIG_DATABASE.items()}


def test_every_key_id_is_the_one_pyubx2_gives_its_name() -> None:
    db = pyubx2.UBX_CONFIG_DATABASE
    for name, key in NAMES.items():
        assert db[name][0] == key, name


def _theirs(items: list[tuple[int, int]], port: int = 1) -> bytes:
    names = _by_id()
    cfg = [(names[k], v) for k, v in items]
    msg = pyubx2.UBXMessage.config_set(pyubx2.SET_LAYER_RAM, pyubx2.TXN_NONE, cfg)
    return bytes(msg.serialize())


@pytest.mark.parametrize("port", [1, 2])
@pytest.mark.parametrize("baud", [9600, 38400, 115200])
def test_valset_frames_are_byte_identical(port: int, baud: int) -> None:
    items = [*ubx.output_items(port), (ubx.baud_key(port), baud)]
    assert ubx.valset(items) == _theirs(items)
    assert ubx.valset([(ubx.baud_key(port), baud)]) == _theirs([(ubx.baud_key(port), baud)])


def test_pyubx2_decodes_the_firmwares_valset_to_the_intended_settings() -> None:
    raw = ubx.valset([*ubx.output_items(1), (ubx.CFG_UART1_BAUDRATE, 38400)])
    msg = pyubx2.UBXReader.parse(raw, msgmode=pyubx2.SET)
    assert msg.identity == "CFG-VALSET"
    assert (msg.ram, msg.bbr, msg.flash) == (1, 0, 0)
    got = {k: getattr(msg, k) for k in NAMES if hasattr(msg, k)}
    assert got == {
        "CFG_RATE_MEAS": 1000,
        "CFG_RATE_NAV": 1,
        "CFG_UART1_BAUDRATE": 38400,
        "CFG_MSGOUT_NMEA_ID_GGA_UART1": 1,
        "CFG_MSGOUT_NMEA_ID_RMC_UART1": 1,
        "CFG_MSGOUT_NMEA_ID_GSA_UART1": 1,
        "CFG_MSGOUT_NMEA_ID_GSV_UART1": 0,
        "CFG_MSGOUT_NMEA_ID_VTG_UART1": 0,
        "CFG_MSGOUT_NMEA_ID_GLL_UART1": 0,
    }


def test_backup_request_matches_pyubx2() -> None:
    msg = pyubx2.UBXMessage(
        "RXM", "RXM-PMREQ", pyubx2.SET, version=0, duration=0, backup=1, force=1, uartrx=1
    )
    assert ubx.backup_request() == bytes(msg.serialize())


def test_the_ack_pyubx2_builds_is_recognised() -> None:
    ack = pyubx2.UBXMessage("ACK", "ACK-ACK", pyubx2.GET, clsID=0x06, msgID=0x8A)
    nak = pyubx2.UBXMessage("ACK", "ACK-NAK", pyubx2.GET, clsID=0x06, msgID=0x8A)
    assert ubx.AckScanner(0x06, 0x8A).feed(bytes(ack.serialize())) == ubx.OK
    assert ubx.AckScanner(0x06, 0x8A).feed(bytes(nak.serialize())) == ubx.NAK


def test_the_pinned_frames_of_the_dual_suite_are_pyubx2s() -> None:
    items = ubx.output_items(1)
    assert pinned.VALSET_ALL_38400 == _theirs([*items, (ubx.CFG_UART1_BAUDRATE, 38400)])
    assert pinned.VALSET_BAUD_38400 == _theirs([(ubx.CFG_UART1_BAUDRATE, 38400)])
    assert pinned.VALSET_OUTPUT == _theirs(items)
    ack = pyubx2.UBXMessage("ACK", "ACK-ACK", pyubx2.GET, clsID=0x06, msgID=0x8A)
    assert pinned.ACK_VALSET == bytes(ack.serialize())
