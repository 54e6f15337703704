"""The chain state's faults (firmware/state.py) that a unit in good order never raises: loaded
the first time one is raised or named, then kept; ``firmware.state`` offers each by name, so
``from firmware.state import StateCorrupt`` gives these very classes."""

from firmware.state import StateError


class AlreadySealed(StateError):
    """The chain head cannot be changed once this unit has sealed a statement."""

    code = "already_sealed"


class StateCorrupt(StateError):
    """A state or registry file that does not decode (flash rot or tampering)."""

    code = "state_corrupt"
