"""OBU firmware (MicroPython on the ESP32; also runs under CPython for host tests)."""
