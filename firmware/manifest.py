# Freeze the firmware and the protocol core into a custom MicroPython image for the ESP32, so
# their bytecode stays in flash instead of the heap (see firmware/README.md, "Memory"):
#
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/quietmile/firmware/manifest.py
#
# `include` keeps the port's own frozen modules; `package` freezes a whole folder.
include("$(PORT_DIR)/boards/manifest.py")
package("protocol", base_path="$(MPY_DIR)/../quietmile")
package("firmware", base_path="$(MPY_DIR)/../quietmile")
