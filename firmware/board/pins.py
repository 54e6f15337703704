"""ESP32 pin assignment of the reference OBU (rev A). Mirrors hardware/pinmap.json, the
builders' source of truth; tests/host/test_pinmap.py checks the two agree."""

from protocol.compat import const

GNSS_UART = const(2)
GNSS_RX = const(16)
GNSS_TX = const(17)
GNSS_BAUD = const(9600)
GNSS_PPS = const(4)
GNSS_RESET = const(18)

MODEM_UART = const(1)
MODEM_RX = const(25)
MODEM_TX = const(26)
MODEM_BAUD = const(115200)
MODEM_PWRKEY = const(32)
MODEM_STATUS = const(35)

I2C_ID = const(0)
I2C_SDA = const(21)
I2C_SCL = const(22)
I2C_FREQ = const(100000)  # the ATECC608 wake pulse needs SDA low >= 60 µs
ATECC608_ADDR = const(0x60)

IGNITION_SENSE = const(34)
POWER_FAIL = const(39)
TAMPER = const(36)
LED_GREEN = const(13)
LED_AMBER = const(14)
LED_RED = const(27)
BUZZER = const(33)
BUTTON = const(19)  # the driver's push button to ground (internal pull-up): confirms disputes
