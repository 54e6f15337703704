"""A fake ATECC608 on a fake I2C bus: the chip's framing, CRCs, wake/sleep/idle, and real
P-256 keys per slot (protocol.p256), so the driver's signatures verify.

Runs under CPython and the MicroPython unix port. Fault switches (set them on the instance):
``corrupt_next_crc`` (int: how many next responses get a flipped CRC byte), ``fail_wake``
(True: the wake pulse is ignored), ``busy_reads`` (NACK that many reads after the next
command), ``force_status`` (answer the next command with this status code, not running it).
"""

from firmware.board.atecc608 import ADDR, crc16
from protocol import p256
from protocol.hashing import sha256

ASLEEP = 0
IDLE = 1
AWAKE = 2

KEY_SLOTS = (0, 1, 2, 3, 4)  # slots configured as ECC private keys
COUNTER_MAX = 2097151  # the chip's 21-bit counter limit
REVISION = b"\x00\x00\x60\x03"  # ATECC608B


def _nack():
    return OSError(19)  # ENODEV: what machine.I2C raises on an address NACK


def _packet(data):
    body = bytes((len(data) + 3,)) + bytes(data)
    c = crc16(body)
    return body + bytes((c & 0xFF, c >> 8))


class FakeAtecc608:
    """The chip and its bus in one object: pass it as ``i2c`` and its ``sleep_ms``."""

    def __init__(self, seed=b"fake-atecc608"):
        self.state = ASLEEP
        self.keys = {}
        self.tempkey = None
        self.counters = [0, 0]
        self.resp = b""
        self.pos = 0
        self.seed = seed
        self.drbg = 0
        self.clock_ms = 0
        self.log = []  # (opcode, p1, p2) of every command that ran
        self.wakes = 0
        self.crc_rejects = 0
        self.corrupt_next_crc = 0
        self.fail_wake = False
        self.busy_reads = 0
        self.executing = False
        self.force_status = None

    # --- host side hooks -----------------------------------------------------------------

    def sleep_ms(self, ms):
        self.clock_ms += ms

    def _rand(self, n):
        out = b""
        while len(out) < n:
            self.drbg += 1
            out += sha256(self.seed + self.drbg.to_bytes(4, "big"))
        return out[:n]

    # --- I2C -----------------------------------------------------------------------------

    def writeto(self, addr, buf):
        buf = bytes(buf)
        if addr != ADDR:
            # The wake pulse (SDA low long enough); nobody ACKs the address either way.
            if addr == 0 and not self.fail_wake and self.state != AWAKE:
                self.state = AWAKE
                self.wakes += 1
                self.resp = _packet(b"\x11")  # never corrupted: the switch is for commands
                self.pos = 0
            raise _nack()
        if self.state != AWAKE:
            raise _nack()
        wa = buf[0]
        if wa == 0x01:
            self.state = ASLEEP
            self.tempkey = None  # sleep clears volatile state
        elif wa == 0x02:
            self.state = IDLE
        elif wa == 0x00:
            self.pos = 0
        elif wa == 0x03:
            self._command(buf[1:])
        else:
            raise _nack()

    def readfrom(self, addr, n):
        if addr != ADDR or self.state != AWAKE:
            raise _nack()
        if self.executing and self.busy_reads > 0:
            self.busy_reads -= 1
            raise _nack()  # still executing the command: the chip NACKs its address
        self.executing = False
        out = self.resp[self.pos : self.pos + n]
        self.pos += n
        return out + b"\xff" * (n - len(out))

    def _respond(self, pkt):
        if self.corrupt_next_crc > 0:
            self.corrupt_next_crc -= 1
            pkt = pkt[:-1] + bytes((pkt[-1] ^ 0x5A,))
        self.resp = pkt
        self.pos = 0

    def _status(self, code):
        self._respond(_packet(bytes((code,))))

    # --- commands ------------------------------------------------------------------------

    def _command(self, pkt):
        self.executing = True
        count = pkt[0] if pkt else 0
        if count < 7 or len(pkt) != count:
            self.crc_rejects += 1
            return self._status(0xFF)
        c = crc16(pkt[:-2])
        if pkt[-2] != c & 0xFF or pkt[-1] != c >> 8:
            self.crc_rejects += 1
            return self._status(0xFF)
        op, p1 = pkt[1], pkt[2]
        p2 = pkt[3] | (pkt[4] << 8)
        data = pkt[5:-2]
        if self.force_status is not None:
            code = self.force_status
            self.force_status = None
            return self._status(code)
        self.log.append((op, p1, p2))
        handler = {
            0x16: self._nonce,
            0x1B: self._random,
            0x24: self._counter,
            0x30: self._info,
            0x40: self._genkey,
            0x41: self._sign,
        }.get(op)
        if handler is None:
            return self._status(0x03)
        r = handler(p1, p2, data)
        if isinstance(r, int):
            return self._status(r)
        self._respond(_packet(r))

    def _nonce(self, p1, p2, data):
        if p1 != 0x03 or p2 != 0 or len(data) != 32:
            return 0x03  # only pass-through into TempKey is modelled
        self.tempkey = bytes(data)
        return 0x00

    def _random(self, p1, p2, data):
        return self._rand(32)

    def _counter(self, p1, p2, data):
        if p2 > 1 or p1 > 1 or data:
            return 0x03
        if p1 == 1:
            if self.counters[p2] >= COUNTER_MAX:
                return 0x0F
            self.counters[p2] += 1
        return self.counters[p2].to_bytes(4, "little")

    def _info(self, p1, p2, data):
        return REVISION if p1 == 0 else 0x03

    def _genkey(self, p1, p2, data):
        if p2 not in KEY_SLOTS:
            return 0x0F
        if p1 == 0x04:
            self.keys[p2] = p256.generate_private_key(self._rand)
        elif p1 != 0x00:
            return 0x03
        d = self.keys.get(p2)
        if d is None:
            return 0x0F  # no key in the slot yet
        return p256.public_key(d)[1:]

    def _sign(self, p1, p2, data):
        if p1 != 0x80 or data:
            return 0x03
        d = self.keys.get(p2)
        if d is None or self.tempkey is None:
            return 0x0F  # Sign needs a key and a valid TempKey
        digest = self.tempkey
        self.tempkey = None  # Sign consumes TempKey; the driver reloads it every time
        return p256.sign_digest(d, digest)
