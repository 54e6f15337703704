"""Board mappings: what the application's injected objects are on each platform.

``firmware/board/esp32.py`` builds them from ``machine`` on the real OBU (pins from
``firmware/board/pins.py``, which mirrors ``hardware/pinmap.json``; a test checks they agree);
``firmware/board/host.py`` builds them from files, pipes and sockets for the MicroPython unix
port and CPython.
"""
