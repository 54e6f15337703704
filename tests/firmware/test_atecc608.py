"""ATECC608 driver (firmware/board/atecc608.py) against the fake chip (atecc608_fake.py).

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

from firmware.board import atecc608 as se
from protocol import p256
from protocol.hashing import sha256
from tests.contract.support import h, raises
from tests.firmware.atecc608_fake import ASLEEP, FakeAtecc608


def _dev(**kw):
    chip = FakeAtecc608()
    return chip, se.Atecc608(chip, chip.sleep_ms, **kw)


def test_crc16_datasheet_vectors():
    # The wake response, the success status and the Info(revision) command of the datasheet.
    assert se.crc16(h("04 11")) == 0x4333
    assert se.crc16(h("04 00")) == 0x4003
    assert se.crc16(b"") == 0
    assert se.command_packet(0x30, 0x00, 0x0000) == h("03 07 30 00 00 00 03 5D")
    # Nonce pass-through: count 7 + 32, CRC little-endian over count..data.
    pkt = se.command_packet(0x16, 0x03, 0x0000, bytes(range(32)))
    assert pkt[1] == 7 + 32 and len(pkt) == 1 + 39
    c = se.crc16(pkt[1:-2])
    assert pkt[-2:] == bytes((c & 0xFF, c >> 8))


def test_wake_then_sleep_each_transaction():
    chip, dev = _dev()
    assert dev.info() == h("00 00 60 03")
    assert chip.wakes == 1 and chip.state == ASLEEP
    dev.info()
    assert chip.wakes == 2 and chip.state == ASLEEP
    assert chip.clock_ms >= 2 * se.T_WHI_MS  # waited tWHI after each wake pulse


def test_wake_failure_is_typed():
    chip, dev = _dev(wake_tries=2)
    chip.fail_wake = True
    raises(se.WakeFailed, dev.info)
    raises(se.AteccError, dev.random)
    chip.fail_wake = False
    assert len(dev.random()) == 32


def test_keygen_and_public_key_read():
    chip, dev = _dev()
    xy = dev.genkey(0)
    assert len(xy) == 64
    p256.decode_public_key(b"\x04" + xy)  # on the curve
    assert dev.public_key(0) == xy
    xy2 = dev.genkey(1)
    assert xy2 != xy and dev.public_key(0) == xy
    # No key yet in slot 2: the chip answers an execution error.
    e = raises(se.StatusError, dev.public_key, 2)
    assert e.code == se.ST_EXECUTION


def test_sign_digest_verifies():
    chip, dev = _dev()
    dev.genkey(0)
    signer = se.AteccSigner(dev, 0)
    pub = signer.public_key()
    assert len(pub) == 65 and pub[0] == 4
    assert signer.kid == p256.key_id(pub)
    digest = sha256(b"statement")
    sig = signer.sign_digest(digest)
    assert len(sig) == 64
    assert p256.verify_digest(pub, digest, sig)
    assert not p256.verify_digest(pub, sha256(b"other"), sig)
    assert p256.verify(pub, b"msg", signer.sign(b"msg"))
    # The signer does not pin the P-256 code: the module holds no reference to protocol.p256.
    assert "p256" not in dir(se)
    # Nonce (pass-through) then Sign (external, slot 0), in one wake.
    assert chip.log[-2:] == [(0x16, 0x03, 0), (0x41, 0x80, 0)]
    raises(ValueError, signer.sign_digest, b"short")


def test_bad_response_crc_is_retried():
    chip, dev = _dev(retries=3)
    xy = dev.genkey(0)
    chip.corrupt_next_crc = 2
    assert dev.public_key(0) == xy  # third attempt succeeds
    assert chip.corrupt_next_crc == 0
    # Sign: the whole Nonce + Sign pair is redone, the signature still verifies.
    chip.corrupt_next_crc = 1
    d = sha256(b"x")
    assert p256.verify_digest(b"\x04" + xy, d, dev.sign_digest(0, d))


def test_bad_response_crc_gives_up():
    chip, dev = _dev(retries=3)
    dev.genkey(0)
    chip.corrupt_next_crc = 3
    raises(se.CrcError, dev.public_key, 0)
    assert chip.state == ASLEEP  # left asleep even on failure


def test_device_rejects_bad_command_crc():
    chip, dev = _dev()
    dev.wake()
    pkt = bytearray(se.command_packet(0x30, 0, 0))
    pkt[-1] ^= 1
    chip.writeto(se.ADDR, bytes(pkt))
    e = raises(se.StatusError, dev._read_response, 4, 10)
    assert e.code == se.ST_COMM and chip.crc_rejects == 1
    dev.sleep()


def test_busy_nacks_are_polled():
    chip, dev = _dev()
    chip.busy_reads = 10  # 20 ms of NACKs, within Random's 25 ms budget
    t0 = chip.clock_ms
    assert len(dev.random()) == 32
    assert chip.busy_reads == 0 and chip.clock_ms - t0 >= 20


def test_busy_past_budget_times_out():
    chip, dev = _dev(retries=1)
    chip.busy_reads = 1000
    raises(se.Timeout, dev.info)
    assert se.Busy is se.Timeout


def test_counter_monotonic():
    chip, dev = _dev()
    assert dev.counter(0) == 0
    seen = [dev.counter_increment(0) for _ in range(5)]
    assert seen == [1, 2, 3, 4, 5]
    assert dev.counter(0) == 5 and dev.counter(1) == 0
    assert dev.counter_increment(1) == 1


def test_status_errors_mapped():
    chip, dev = _dev()
    for code in (0x01, 0x03, 0x05, 0x0F):
        chip.force_status = code
        e = raises(se.StatusError, dev.info)
        assert e.code == code and ("0x%02X" % code) in str(e)
        assert chip.force_status is None  # not resent: the answer would be the same
    # Transient statuses are resent, then succeed.
    for code in (0x11, 0xEE, 0xFF):
        chip.force_status = code
        assert dev.info() == h("00 00 60 03")


def test_random_is_32_bytes_and_varies():
    chip, dev = _dev()
    a, b = dev.random(), dev.random()
    assert len(a) == 32 and a != b
