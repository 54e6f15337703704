"""Microchip ATECC608 secure element over I2C: the OBU's signing key lives in a slot.

The bus is injected (anything with ``writeto(addr, buf)`` / ``readfrom(addr, n)`` like
``machine.I2C``) and so is ``sleep_ms``, so the same code runs on the ESP32 and against
tests/firmware/atecc608_fake.py on the host. Integers only; no allocation-heavy idioms.

Framing (ATECC608 datasheet, "I2C Transmission to the device"):

- word address byte first: 0x00 reset, 0x01 sleep, 0x02 idle, 0x03 command;
- command packet: 0x03, count, opcode, param1, param2 (2 bytes LE), data, CRC-16 (2 bytes LE);
  count covers itself, opcode, params, data and CRC (7 + len(data));
- response: count, data, CRC-16; a 4-byte packet (one data byte) is a status.

A transaction is: wake, one or more commands, sleep. Sleep (not idle) ends every transaction
because it draws ~150 nA and the chip's watchdog (~1.3 s) would otherwise put it to sleep in
the middle of a later command. Nonce + Sign share one wake so TempKey survives between them.
"""

from protocol.compat import const
from protocol.hashing import sha256

ADDR = const(0x60)  # factory default 7-bit address (0xC0 8-bit)

WA_RESET = const(0x00)
WA_SLEEP = const(0x01)
WA_IDLE = const(0x02)
WA_COMMAND = const(0x03)

OP_NONCE = const(0x16)
OP_RANDOM = const(0x1B)
OP_COUNTER = const(0x24)
OP_INFO = const(0x30)
OP_GENKEY = const(0x40)
OP_SIGN = const(0x41)

GENKEY_PUBLIC = const(0x00)  # recompute the public key of the private key in the slot
GENKEY_PRIVATE = const(0x04)  # create a new random private key in the slot
NONCE_PASSTHROUGH = const(0x03)  # 32 bytes from the host go to TempKey unchanged
SIGN_EXTERNAL = const(0x80)  # sign the digest in TempKey (loaded by a pass-through Nonce)
COUNTER_READ = const(0x00)
COUNTER_INCREMENT = const(0x01)
INFO_REVISION = const(0x00)

WAKE_RESPONSE = b"\x04\x11\x33\x43"  # count 4, status 0x11 "after wake", CRC

# Status codes of 4-byte responses.
ST_SUCCESS = const(0x00)
ST_MISCOMPARE = const(0x01)
ST_PARSE = const(0x03)
ST_ECC_FAULT = const(0x05)
ST_SELFTEST = const(0x07)
ST_HEALTH = const(0x08)
ST_EXECUTION = const(0x0F)
ST_AFTER_WAKE = const(0x11)
ST_WATCHDOG = const(0xEE)
ST_COMM = const(0xFF)

STATUS_NAMES = {
    ST_MISCOMPARE: "checkmac/verify miscompare",
    ST_PARSE: "parse error",
    ST_ECC_FAULT: "ECC fault",
    ST_SELFTEST: "self-test error",
    ST_HEALTH: "health test error",
    ST_EXECUTION: "execution error",
    ST_AFTER_WAKE: "after wake (command not received)",
    ST_WATCHDOG: "watchdog about to expire",
    ST_COMM: "CRC or communication error",
}

# These say the command never ran (or the chip wants a fresh wake): resend it. The others
# are answers about the command itself and resending would get the same answer.
_RETRY_STATUS = (ST_AFTER_WAKE, ST_WATCHDOG, ST_COMM)

# Maximum execution times in ms (datasheet table, clock divider 0x00), plus margin.
_EXEC_MS = {
    OP_NONCE: 20,
    OP_RANDOM: 25,
    OP_COUNTER: 25,
    OP_INFO: 5,
    OP_GENKEY: 120,
    OP_SIGN: 220,
}

T_WHI_MS = const(2)  # after the wake pulse the chip needs 1.5 ms before it talks
POLL_MS = const(2)


class AteccError(Exception):
    """Anything that went wrong talking to the secure element."""


class CrcError(AteccError):
    """A response failed its CRC-16 (after the retries)."""


class WakeFailed(AteccError):
    """No valid wake response 04 11 33 43: chip absent, asleep or the bus is stuck."""


class Timeout(AteccError):
    """The chip kept NACKing (busy) past the command's maximum execution time."""


Busy = Timeout


class StatusError(AteccError):
    """The chip answered a 4-byte status packet with a non-zero code."""

    def __init__(self, code):
        super().__init__("status 0x%02X: %s" % (code, STATUS_NAMES.get(code, "unknown")))
        self.code = code


def crc16(data):
    """CRC-16 of the ATECC608 packets: polynomial 0x8005, initial 0, input bits LSB first,
    result not reflected. Returns the int; packets carry it little-endian."""
    crc = 0
    for b in data:
        for i in range(8):
            data_bit = (b >> i) & 1
            crc_bit = crc >> 15
            crc = (crc << 1) & 0xFFFF
            if data_bit != crc_bit:
                crc ^= 0x8005
    return crc


def _with_crc(body):
    c = crc16(body)
    return bytes(body) + bytes((c & 0xFF, c >> 8))


def command_packet(opcode, p1, p2, data=b""):
    """The bytes written for one command, word address 0x03 included."""
    body = bytes((7 + len(data), opcode, p1, p2 & 0xFF, p2 >> 8)) + bytes(data)
    return b"\x03" + _with_crc(body)


class Atecc608:
    """Driver for one chip. Every public method is one wake…sleep transaction, retried."""

    def __init__(self, i2c, sleep_ms, addr=ADDR, retries=3, wake_tries=3, wake_pulse=None):
        self.i2c = i2c
        self.sleep_ms = sleep_ms
        self.addr = addr
        self.retries = retries
        self.wake_tries = wake_tries
        # The wake pulse is SDA held low >= 60 us. Writing 0x00 to address 0 at 100 kHz does
        # that (9 low bit times); at 400 kHz a board should pass its own pulse (e.g. SDA as GPIO).
        self._wake_pulse = wake_pulse

    # --- bus primitives ------------------------------------------------------------------

    def _pulse(self):
        if self._wake_pulse is not None:
            self._wake_pulse()
            return
        try:
            self.i2c.writeto(0x00, b"\x00")
        except OSError:
            pass  # nobody ACKs address 0: the NACK is expected

    def wake(self):
        """Wake the chip and check its wake response; WakeFailed after ``wake_tries``."""
        for _ in range(self.wake_tries):
            self._pulse()
            self.sleep_ms(T_WHI_MS)
            try:
                r = self.i2c.readfrom(self.addr, 4)
            except OSError:
                continue
            if bytes(r) == WAKE_RESPONSE:
                return
            # Awake already (the wake pulse was ignored) or garbage: sleep it and try again.
            self.sleep()
        raise WakeFailed("no wake response from 0x%02X" % self.addr)

    def _word(self, wa):
        try:
            self.i2c.writeto(self.addr, bytes((wa,)))
        except OSError:
            pass  # a chip that is already asleep NACKs; the end state is the same

    def sleep(self):
        """Low-power sleep; clears TempKey and the watchdog."""
        self._word(WA_SLEEP)

    def idle(self):
        """Idle: keeps TempKey, still needs a wake."""
        self._word(WA_IDLE)

    def _send(self, pkt, budget_ms):
        waited = 0
        while True:
            try:
                self.i2c.writeto(self.addr, pkt)
                return
            except OSError:
                if waited >= budget_ms:
                    raise Timeout("write NACKed for %d ms" % waited) from None
                self.sleep_ms(POLL_MS)
                waited += POLL_MS

    def _read_response(self, max_len, budget_ms):
        # The chip NACKs its address while executing: poll the count byte until it answers.
        waited = 0
        while True:
            try:
                head = self.i2c.readfrom(self.addr, 1)
                break
            except OSError:
                if waited >= budget_ms:
                    raise Timeout("no response after %d ms" % waited) from None
                self.sleep_ms(POLL_MS)
                waited += POLL_MS
        count = head[0]
        if count < 4 or count > max_len + 3:
            raise CrcError("bad response count %d" % count)
        try:
            rest = self.i2c.readfrom(self.addr, count - 1)
        except OSError:
            raise CrcError("response cut short") from None
        pkt = bytes(head) + bytes(rest)
        c = crc16(pkt[:-2])
        if pkt[-2] != c & 0xFF or pkt[-1] != c >> 8:
            raise CrcError("response CRC mismatch")
        data = pkt[1:-2]
        if count == 4:
            # One data byte is a status; 0x00 is the success answer of e.g. Nonce pass-through.
            if data[0] != ST_SUCCESS:
                raise StatusError(data[0])
        return data

    def _command(self, opcode, p1, p2, data=b"", resp_len=1):
        """Send one command inside an open wake and return its response data."""
        budget = _EXEC_MS.get(opcode, 250)
        self._send(command_packet(opcode, p1, p2, data), budget)
        out = self._read_response(resp_len, budget)
        if len(out) != resp_len:
            raise AteccError("opcode 0x%02X: %d bytes, expected %d" % (opcode, len(out), resp_len))
        return out

    def _transaction(self, steps):
        """Run ``steps()`` between a wake and a sleep; resend on CRC/communication errors."""
        last = None
        for _ in range(self.retries):
            self.wake()
            try:
                return steps()
            except CrcError as e:
                last = e
            except StatusError as e:
                if e.code not in _RETRY_STATUS:
                    raise
                last = e
            finally:
                self.sleep()
        raise last

    # --- commands ------------------------------------------------------------------------

    def info(self):
        """Revision word (4 bytes), e.g. 00 00 60 03 for an ATECC608B."""
        return self._transaction(lambda: self._command(OP_INFO, INFO_REVISION, 0, resp_len=4))

    def random(self):
        """32 random bytes from the chip's DRBG (fixed FF FF 00 00… pattern until locked)."""
        return self._transaction(lambda: self._command(OP_RANDOM, 0, 0, resp_len=32))

    def genkey(self, slot):
        """Create a new private key in ``slot`` (irreversibly replaces the old one); X‖Y."""
        return self._transaction(
            lambda: self._command(OP_GENKEY, GENKEY_PRIVATE, slot, resp_len=64)
        )

    def public_key(self, slot):
        """X‖Y (64 bytes) of the private key already in ``slot``."""
        return self._transaction(lambda: self._command(OP_GENKEY, GENKEY_PUBLIC, slot, resp_len=64))

    def sign_digest(self, slot, digest32):
        """64-byte r‖s ECDSA signature of an externally computed SHA-256 digest."""
        if len(digest32) != 32:
            raise ValueError("digest must be 32 bytes")

        def steps():
            # Nonce and Sign in one wake: TempKey does not survive sleep.
            self._command(OP_NONCE, NONCE_PASSTHROUGH, 0, digest32, resp_len=1)
            return self._command(OP_SIGN, SIGN_EXTERNAL, slot, resp_len=64)

        return self._transaction(steps)

    def counter(self, counter_id=0):
        """Read a monotonic counter (0 or 1)."""
        r = self._transaction(
            lambda: self._command(OP_COUNTER, COUNTER_READ, counter_id, resp_len=4)
        )
        return int.from_bytes(r, "little")

    def counter_increment(self, counter_id=0):
        """Increment a monotonic counter and return its new value. A retry after a lost
        response may step it twice; it never goes back, which is all callers rely on."""
        r = self._transaction(
            lambda: self._command(OP_COUNTER, COUNTER_INCREMENT, counter_id, resp_len=4)
        )
        return int.from_bytes(r, "little")


class AteccSigner:
    """The protocol Signer with its P-256 key in an ATECC608 slot (never leaves the chip).

    It has p256.Signer's interface (``kid``, ``public_key``, ``sign_digest``, ``sign``) without
    deriving from it: the chip does the arithmetic, so nothing of protocol.p256 stays on the
    heap for the unit's signer — the App unloads it after boot (firmware/README.md, Memory)."""

    def __init__(self, device, slot=0):
        from protocol import p256

        self.device = device
        self.slot = slot
        pub = b"\x04" + bytes(device.public_key(slot))
        p256.decode_public_key(pub)  # refuse a chip that returns a point off the curve
        self._pub = pub
        self.kid = p256.key_id(pub)

    def public_key(self):
        return self._pub

    def sign_digest(self, digest32):
        return bytes(self.device.sign_digest(self.slot, digest32))

    def sign(self, msg):
        """Signature of SHA-256(msg)."""
        return self.sign_digest(sha256(msg))

    def __repr__(self):
        return "AteccSigner(slot=%d, kid=%s)" % (self.slot, self.kid.hex())
