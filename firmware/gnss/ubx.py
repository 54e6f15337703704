"""u-blox UBX frames and the receiver's boot-time configuration (MAX-M10S, NEO-M9N).

The MAX-M10S keeps a configuration only while V_BCKP is powered, and V_BCKP comes from the
unit's +3V3: after every power cut (and after the software backup the unit puts it in while
parked) the receiver starts from its defaults — 9600 Bd, and GSV for four constellations, GLL
and VTG on top of GGA/RMC/GSA, more than 9600 Bd carries. So the unit sets the RAM layer at
every boot (:func:`configure`): the UART baud rate of the config, a 1 Hz navigation rate, GGA,
RMC and GSA on, GSV, VTG and GLL off, and checks the receiver's UBX-ACK-ACK.

Frames are built here by hand (u-blox M10 SPG 5.10 Interface Description, UBX-21035062,
section "UBX protocol": ``B5 62``, class, id, little-endian length, payload, and the 8-bit
Fletcher checksum over class to payload end). tests/firmware/test_ubx.py checks them against
``pyubx2``, an independent encoder, and runs :func:`configure` against a fake receiver.

No I/O of its own: :func:`configure` takes a port with ``write(bytes)``, ``read()`` (what
arrived, or None) and ``set_baud(baud)`` — the board's GNSS UART — and a clock with
``ticks_ms()``, ``ticks_diff(a, b)`` and ``sleep_ms(ms)`` (MicroPython's ``time``).
"""

from protocol.compat import const

SYNC = b"\xb5\x62"
CLS_RXM = 0x02
CLS_ACK = 0x05
CLS_CFG = 0x06
ID_ACK_NAK = 0x00
ID_ACK_ACK = 0x01
ID_CFG_VALSET = 0x8A
ID_RXM_PMREQ = 0x41

LAYER_RAM = 0x01
LAYER_BBR = 0x02

# Configuration keys (Interface Description, "Configuration interface"). The size of a key's
# value is in its ID (bits 28-30: 1 = one bit stored as a byte, 2 = 1 byte, 3 = 2 bytes,
# 4 = 4 bytes, 5 = 8 bytes), so no table of sizes is needed.
CFG_RATE_MEAS = 0x30210001  # U2, ms between measurements
CFG_RATE_NAV = 0x30210002  # U2, measurements per navigation solution
CFG_UART1_BAUDRATE = 0x40520001  # U4
CFG_UART2_BAUDRATE = 0x40530001  # U4 (NEO-M9N; the MAX-M10S has UART1 only)
# CFG-MSGOUT-NMEA_ID_<msg>_UART1 (U1: output rate per navigation epoch, 0 = off); the UART2
# key of every message is the UART1 key + 1.
MSGOUT_GGA_UART1 = 0x209100BB
MSGOUT_RMC_UART1 = 0x209100AC
MSGOUT_GSA_UART1 = 0x209100C0
MSGOUT_GSV_UART1 = 0x209100C5
MSGOUT_VTG_UART1 = 0x209100B1
MSGOUT_GLL_UART1 = 0x209100CA

# What the parser uses (firmware/gnss/nmea.py) on, the rest of the defaults off.
NMEA_ON = (MSGOUT_GGA_UART1, MSGOUT_RMC_UART1, MSGOUT_GSA_UART1)
NMEA_OFF = (MSGOUT_GSV_UART1, MSGOUT_VTG_UART1, MSGOUT_GLL_UART1)

DEFAULT_BAUD = 9600  # the receiver's factory setting, where it starts after losing V_BCKP

# configure() results
OK = "ok"
NAK = "nak"  # the receiver answered and refused the configuration (not an M9/M10?)
NO_ANSWER = "no-answer"

_SIZES = const((0, 1, 1, 2, 4, 8))


def checksum(body):
    """The 8-bit Fletcher checksum (CK_A, CK_B) of ``body`` = class .. payload end."""
    a = 0
    b = 0
    for x in body:
        a = (a + x) & 0xFF
        b = (b + a) & 0xFF
    return bytes((a, b))


def frame(cls_id, msg_id, payload=b""):
    """One UBX frame: sync, class, id, length (LE), payload, checksum."""
    n = len(payload)
    body = bytes((cls_id, msg_id, n & 0xFF, n >> 8)) + payload
    return SYNC + body + checksum(body)


def value_size(key):
    """Bytes of a configuration key's value, from the size field of its ID."""
    size = (key >> 28) & 0x7
    if size < 1 or size > 5:
        raise ValueError("bad configuration key %08x" % key)
    return _SIZES[size]


def valset(items, layers=LAYER_RAM):
    """UBX-CFG-VALSET (version 0, no transaction) setting ``items`` = ((key, value), ...)."""
    if not items or len(items) > 64:
        raise ValueError("VALSET takes 1..64 items")
    out = bytearray((0, layers, 0, 0))
    for key, value in items:
        out += key.to_bytes(4, "little")
        out += value.to_bytes(value_size(key), "little")
    return frame(CLS_CFG, ID_CFG_VALSET, bytes(out))


def backup_request():
    """UBX-RXM-PMREQ: software backup, no time limit, wake on UART RX activity.

    The receiver then draws its backup current while its supply stays on (the parked state of
    hardware/power_budget.json); the first bytes it receives wake it (and are lost)."""
    payload = bytes(4)  # version 0, reserved
    payload += bytes(4)  # duration 0: until woken
    payload += (0x02 | 0x04).to_bytes(4, "little")  # flags: backup, force
    payload += (0x08).to_bytes(4, "little")  # wakeupSources: uartrx
    return frame(CLS_RXM, ID_RXM_PMREQ, payload)


def baud_key(uart_port):
    if uart_port == 1:
        return CFG_UART1_BAUDRATE
    if uart_port == 2:
        return CFG_UART2_BAUDRATE
    raise ValueError("receiver UART %r has no baud-rate key" % uart_port)


def output_items(uart_port=1, rate_ms=1000):
    """The rate and NMEA output settings of :func:`configure`, for the receiver's ``uart_port``."""
    offset = uart_port - 1
    baud_key(uart_port)  # validates the port
    items = [(CFG_RATE_MEAS, rate_ms), (CFG_RATE_NAV, 1)]
    for key in NMEA_ON:
        items.append((key + offset, 1))
    for key in NMEA_OFF:
        items.append((key + offset, 0))
    return items


class AckScanner:
    """Finds UBX-ACK-ACK / ACK-NAK for one message in a byte stream full of NMEA."""

    def __init__(self, cls_id, msg_id):
        self.want = bytes((cls_id, msg_id))
        self.buf = b""

    def feed(self, data):
        """Returns OK, NAK or None (nothing yet)."""
        buf = self.buf + data
        while True:
            i = buf.find(SYNC)
            if i < 0:
                self.buf = buf[-1:]  # a sync's first byte may end the chunk
                return None
            buf = buf[i:]
            if len(buf) < 10:
                self.buf = buf
                return None
            if (
                buf[2] == CLS_ACK
                and buf[3] in (ID_ACK_ACK, ID_ACK_NAK)
                and buf[4:6] == b"\x02\x00"
                and checksum(buf[2:8]) == buf[8:10]
                and buf[6:8] == self.want
            ):
                self.buf = buf[10:]
                return OK if buf[3] == ID_ACK_ACK else NAK
            buf = buf[2:]


def send(port, msg, clock, wait_ms):
    """Write a CFG message and wait up to ``wait_ms`` for its ACK: OK, NAK or None."""
    scan = AckScanner(msg[2], msg[3])
    port.write(msg)
    t0 = clock.ticks_ms()
    while True:
        data = port.read()
        if data:
            got = scan.feed(data)
            if got is not None:
                return got
        # NMEA keeps arriving from a receiver that ignores the message: time out regardless.
        if clock.ticks_diff(clock.ticks_ms(), t0) >= wait_ms:
            return None
        if not data:
            clock.sleep_ms(20)


def _attempt(port, baud, uart_port, clock, wait_ms, default_baud):
    items = output_items(uart_port)
    key = baud_key(uart_port)
    # A receiver in software backup wakes on RX activity and loses what woke it.
    port.set_baud(baud)
    port.write(b"\xff" * 8)
    clock.sleep_ms(100)
    # Already at the config's rate (a reset of the ESP32 alone): everything at once.
    got = send(port, valset(items + [(key, baud)]), clock, wait_ms)
    if got is not None or baud == default_baud:
        return got
    # At the factory rate (V_BCKP was lost): the baud rate first, then the rest at the new
    # rate. The baud change's ACK may go out at either rate, so the second ACK decides.
    port.set_baud(default_baud)
    port.write(b"\xff" * 8)
    clock.sleep_ms(100)
    port.write(valset([(key, baud)]))
    clock.sleep_ms(150)  # let the frame leave and the receiver switch
    port.set_baud(baud)
    return send(port, valset(items), clock, wait_ms)


def configure(port, baud, clock, uart_port=1, reset=None, wait_ms=1200,
              default_baud=DEFAULT_BAUD, boot_ms=1000):  # fmt: skip
    """Configure the receiver's RAM layer (module docstring); returns OK, NAK or NO_ANSWER.

    ``reset`` (optional) pulses the receiver's RESET_N: used once when nothing answers at
    either rate. The port is left at ``baud`` whatever the outcome.
    """
    got = _attempt(port, baud, uart_port, clock, wait_ms, default_baud)
    if got is None and reset is not None:
        reset()
        clock.sleep_ms(boot_ms)
        got = _attempt(port, baud, uart_port, clock, wait_ms, default_baud)
    port.set_baud(baud)
    if got is None:
        return NO_ANSWER
    return got
