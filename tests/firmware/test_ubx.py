"""UBX frames and the receiver's boot-time configuration (firmware/gnss/ubx.py).

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py). The
pinned frames below were produced by pyubx2 1.4 (``UBXMessage.config_set(SET_LAYER_RAM,
TXN_NONE, …)`` and ``UBXMessage("RXM", "RXM-PMREQ", SET, …)``), an encoder written apart
from this firmware; tests/host/test_ubx_pyubx2.py re-derives them from pyubx2 at every run.
The fake receiver decodes frames with its own parser (below), not with the firmware's.
"""

from firmware.gnss import ubx
from tests.contract.support import raises

# valset(output_items(1) + [(CFG_UART1_BAUDRATE, 38400)]): rate 1000 ms / 1 cycle, GGA RMC
# GSA on, GSV VTG GLL off, UART1 at 38400 Bd, RAM layer.
VALSET_ALL_38400 = bytes.fromhex(
    "b562068a36000001000001002130e803020021300100bb00912001ac00912001c000912001c5009120"
    "00b100912000ca009120000100524000960000117d"
)
VALSET_BAUD_38400 = bytes.fromhex("b562068a0c00000100000100524000960000c61f")
VALSET_OUTPUT = bytes.fromhex(
    "b562068a2e000001000001002130e803020021300100bb00912001ac00912001c000912001c5009120"
    "00b100912000ca00912000e0c7"
)
PMREQ_BACKUP = bytes.fromhex("b5620241100000000000000000000600000008000000616b")
ACK_VALSET = bytes.fromhex("b56205010200068a98c1")
NMEA = b"$GNRMC,083559.00,A,4717.11437,N,00833.91522,E,0.004,77.52,091202,,,A,V*2D\r\n"


def test_frames_match_the_independent_encoder():
    items = ubx.output_items(1)
    everything = ubx.output_items(1)
    everything.append((ubx.CFG_UART1_BAUDRATE, 38400))  # (MicroPython has no [*a, b])
    assert ubx.valset(everything) == VALSET_ALL_38400
    assert ubx.valset([(ubx.CFG_UART1_BAUDRATE, 38400)]) == VALSET_BAUD_38400
    assert ubx.valset(items) == VALSET_OUTPUT
    assert ubx.backup_request() == PMREQ_BACKUP
    assert ubx.frame(ubx.CLS_ACK, ubx.ID_ACK_ACK, b"\x06\x8a") == ACK_VALSET


def test_checksum_is_the_fletcher_sum_over_class_to_payload():
    assert ubx.checksum(b"") == b"\x00\x00"
    assert ubx.checksum(b"\x05\x01\x02\x00\x06\x8a") == b"\x98\xc1"
    assert ubx.frame(6, 0x8A, b"")[-2:] == ubx.checksum(b"\x06\x8a\x00\x00")


def test_value_sizes_come_from_the_key_id_and_bad_input_is_refused():
    assert ubx.value_size(ubx.CFG_UART1_BAUDRATE) == 4
    assert ubx.value_size(ubx.CFG_RATE_MEAS) == 2
    assert ubx.value_size(ubx.MSGOUT_GGA_UART1) == 1
    assert ubx.value_size(0x10740002) == 1  # L: one bit, stored as a byte
    raises(ValueError, ubx.value_size, 0x00000001)
    raises(ValueError, ubx.value_size, 0x70000001)
    raises(ValueError, ubx.valset, [])
    raises(ValueError, ubx.valset, [(ubx.MSGOUT_GGA_UART1, 1)] * 65)
    raises(ValueError, ubx.baud_key, 0)  # the receiver's I2C/SPI port has no baud rate


def test_uart2_keys_are_the_uart1_keys_plus_one():
    one = dict(ubx.output_items(1))
    two = dict(ubx.output_items(2))
    assert two[ubx.MSGOUT_GGA_UART1 + 1] == 1 and two[ubx.MSGOUT_GSV_UART1 + 1] == 0
    assert one[ubx.MSGOUT_GSV_UART1] == 0 and one[ubx.MSGOUT_RMC_UART1] == 1
    assert ubx.baud_key(2) == ubx.CFG_UART2_BAUDRATE


def test_the_ack_is_found_among_nmea_and_across_chunks():
    scan = ubx.AckScanner(ubx.CLS_CFG, ubx.ID_CFG_VALSET)
    stream = NMEA + b"\xb5" + NMEA[:10] + ACK_VALSET + NMEA
    found = None
    for i in range(0, len(stream), 7):
        got = scan.feed(stream[i : i + 7])
        if got is not None:
            found = got
            break
    assert found == ubx.OK


def test_an_ack_for_another_message_or_with_a_bad_checksum_is_ignored():
    scan = ubx.AckScanner(ubx.CLS_CFG, ubx.ID_CFG_VALSET)
    other = ubx.frame(ubx.CLS_ACK, ubx.ID_ACK_ACK, b"\x06\x8b")
    broken = ACK_VALSET[:-1] + b"\x00"
    assert scan.feed(other + broken + NMEA) is None
    nak = ubx.frame(ubx.CLS_ACK, ubx.ID_ACK_NAK, b"\x06\x8a")
    assert scan.feed(nak) == ubx.NAK


# --- a fake receiver ---------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.ms = 0

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        self.ms += ms


def _fletcher(body):
    a = b = 0
    for x in body:
        a = (a + x) % 256
        b = (b + a) % 256
    return bytes([a, b])


class Receiver:
    """The receiver's UART1 as the unit's UART sees it. Bytes pass only when both sides run at
    the same rate; a receiver in software backup wakes on RX activity and loses those bytes.
    ``dead`` receivers answer nothing until ``reset()``; ``ignore`` ones (an M8: no VALSET)
    only talk NMEA; ``nak`` ones refuse."""

    def __init__(self, clock, baud=9600, asleep=False, dead=False, nak=False, ignore=False,
                 dead_after_reset=False):  # fmt: skip
        self.clock = clock
        self.baud = baud
        self.host_baud = None
        self.asleep = asleep
        self.dead = dead
        self.dead_after_reset = dead_after_reset
        self.nak = nak
        self.ignore = ignore
        self.config = {}
        self.out = b""
        self.inbuf = b""
        self.resets = 0
        self.valsets = 0

    # the unit's side ----------------------------------------------------------------------
    def set_baud(self, baud):
        self.host_baud = baud

    def write(self, data):
        self.clock.ms += 1
        if self.dead:
            return len(data)
        if self.asleep:
            self.asleep = False
            return len(data)
        if self.host_baud != self.baud:
            return len(data)  # framing errors on the receiver's side
        self.inbuf += data
        self._parse()
        return len(data)

    def read(self):
        self.clock.ms += 5
        if self.dead or self.asleep:
            return None
        if self.host_baud != self.baud:
            return b"\x00\xf8\x80"  # what the wrong rate makes of NMEA
        out, self.out = self.out + NMEA, b""
        return out

    def reset(self):
        self.resets += 1
        self.dead = self.dead_after_reset
        self.baud = 9600
        self.config = {}

    # the receiver's side ------------------------------------------------------------------
    def _parse(self):
        buf = self.inbuf
        while True:
            i = buf.find(b"\xb5\x62")
            if i < 0 or len(buf) < i + 8:
                break
            n = buf[i + 4] | buf[i + 5] << 8
            if len(buf) < i + 8 + n:
                break
            body = buf[i + 2 : i + 6 + n]
            ck = buf[i + 6 + n : i + 8 + n]
            buf = buf[i + 8 + n :]
            if _fletcher(body) == ck:
                self._message(body[0], body[1], body[4:])
        self.inbuf = buf

    def _message(self, cls_id, msg_id, payload):
        if self.ignore or (cls_id, msg_id) != (0x06, 0x8A):
            return
        self.valsets += 1
        ack_id = 0x00 if self.nak else 0x01
        body = bytes([0x05, ack_id, 2, 0, cls_id, msg_id])
        self.out += b"\xb5\x62" + body + _fletcher(body)
        if self.nak:
            return
        assert payload[0] == 0 and payload[1] == 0x01  # version 0, RAM layer only
        sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8}
        pos = 4
        new_baud = None
        while pos < len(payload):
            key = int.from_bytes(payload[pos : pos + 4], "little")
            size = sizes[(key >> 28) & 7]
            value = int.from_bytes(payload[pos + 4 : pos + 4 + size], "little")
            self.config[key] = value
            if key == 0x40520001:
                new_baud = value
            pos += 4 + size
        if new_baud is not None:
            self.baud = new_baud  # after the ACK went out at the old rate


WANTED = {
    0x30210001: 1000,  # CFG-RATE-MEAS
    0x30210002: 1,  # CFG-RATE-NAV
    0x209100BB: 1,  # GGA
    0x209100AC: 1,  # RMC
    0x209100C0: 1,  # GSA
    0x209100C5: 0,  # GSV
    0x209100B1: 0,  # VTG
    0x209100CA: 0,  # GLL
}


def _configured(rx, baud):
    for key, value in WANTED.items():
        assert rx.config.get(key) == value, hex(key)
    assert rx.config.get(0x40520001, 9600) == baud and rx.baud == baud


def test_a_receiver_at_the_configured_rate_is_set_up_in_one_message():
    clock = Clock()
    rx = Receiver(clock, baud=9600)
    assert ubx.configure(rx, 9600, clock, reset=rx.reset) == ubx.OK
    _configured(rx, 9600)
    assert rx.valsets == 1 and rx.resets == 0 and rx.host_baud == 9600


def test_a_receiver_back_at_its_factory_rate_is_moved_to_the_configured_one():
    clock = Clock()
    rx = Receiver(clock, baud=9600)
    assert ubx.configure(rx, 38400, clock, reset=rx.reset) == ubx.OK
    _configured(rx, 38400)
    assert rx.resets == 0 and rx.host_baud == 38400


def test_a_receiver_that_kept_the_rate_is_configured_without_the_fallback():
    clock = Clock()
    rx = Receiver(clock, baud=38400)
    assert ubx.configure(rx, 38400, clock, reset=rx.reset) == ubx.OK
    assert rx.valsets == 1
    _configured(rx, 38400)


def test_a_receiver_in_software_backup_is_woken_first():
    clock = Clock()
    rx = Receiver(clock, asleep=True)
    assert ubx.configure(rx, 9600, clock, reset=rx.reset) == ubx.OK
    assert rx.resets == 0
    _configured(rx, 9600)


def test_a_silent_receiver_is_reset_once_and_then_configured():
    clock = Clock()
    rx = Receiver(clock, dead=True)
    assert ubx.configure(rx, 38400, clock, reset=rx.reset) == ubx.OK
    assert rx.resets == 1
    _configured(rx, 38400)


def test_a_receiver_that_never_answers_is_reported_within_bounded_time():
    clock = Clock()
    rx = Receiver(clock, dead=True, dead_after_reset=True)
    assert ubx.configure(rx, 38400, clock, reset=rx.reset) == ubx.NO_ANSWER
    assert rx.resets == 1 and rx.host_baud == 38400
    assert clock.ms < 10000
    # without a reset line: no answer, no reset
    rx2 = Receiver(Clock(), dead=True)
    assert ubx.configure(rx2, 9600, rx2.clock) == ubx.NO_ANSWER


def test_a_receiver_that_ignores_valset_times_out_although_nmea_keeps_coming():
    clock = Clock()
    rx = Receiver(clock, ignore=True)
    assert ubx.configure(rx, 9600, clock, reset=rx.reset) == ubx.NO_ANSWER
    assert clock.ms < 10000


def test_a_refusal_is_reported_without_a_reset():
    clock = Clock()
    rx = Receiver(clock, nak=True)
    assert ubx.configure(rx, 9600, clock, reset=rx.reset) == ubx.NAK
    assert rx.resets == 0 and rx.config == {}
