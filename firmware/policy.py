"""Signed tariff policies on the OBU: verify, keep the current and the next one, look them up.

A TariffPolicy arrives as a COSE_Sign1 envelope signed by the authority (SPEC §4.1, §6.5).
:meth:`PolicyStore.install` refuses — with a typed error, keeping what it holds — an envelope
that is not signed by the authority's key, tampered, malformed, not a valid policy, already
expired, older than the policy it would replace, or without rates for this vehicle's class.
Refusals raise the protocol's own errors (DecodeError, InvalidMessage, UnknownKeyId,
InvalidSignature, UnsupportedAlgorithm, PolicyError) or this module's PolicyRefused family.

Two slots on flash, each the envelope exactly as signed (so it is re-verified at boot and can be
shown to anyone)::

    <root>/policy/current.cose   the policy in force (or the last one that was)
    <root>/policy/next.cose      an announced policy whose validity starts later

:meth:`lookup` (the Segmenter's, per fix) prefers the next policy once its validity has begun;
:meth:`rotate` moves it into the current slot. A file that no longer verifies at boot is removed
and counted in ``dropped``; the other slot still loads.

Only the lookup stays on the heap while driving. Loading, installing and rotating are in
firmware/policy_install.py (imported at boot and for an install, then unloaded with the network
phase: firmware/app.py), and the PolicyRefused family in firmware/policy_refusals.py, loaded the
first time a policy is refused (and kept); both offered here by name as before.
"""

from protocol.compat import lazy_names

# protocol.envelopes and protocol.p256 (with cose, the CBOR decoder, the policy decoder and the
# tariff rules behind them) are imported where a policy is verified — at boot and on install —
# so that the App can unload them before driving (firmware/app.py).

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from firmware.policy_refusals import ClockUnknown as ClockUnknown
    from firmware.policy_refusals import PolicyClassMissing as PolicyClassMissing
    from firmware.policy_refusals import PolicyExpired as PolicyExpired
    from firmware.policy_refusals import PolicyRefused as PolicyRefused
    from firmware.policy_refusals import PolicyRollback as PolicyRollback


# The refusals, loaded on first use (module docstring).
__getattr__ = lazy_names(__name__, ("firmware.policy_refusals", None))


class _Held:
    # A verified policy and its id. Not its envelope: that is on flash in its slot's file
    # (~0.9 KB per policy kept off the heap; firmware/policy_install.py copies it from there).
    def __init__(self, policy, pid):
        self.policy = policy
        self.pid = pid


class PolicyStore:
    """The unit's tariff policies under ``root``/policy (module docstring).

    ``authority_public_key``: the 65-byte SEC1 key that signs policies (configuration).
    ``clock()``: GNSS Unix time or None. ``vehicle_class``: refuse policies that cannot price
    it. ``verify(pub, data, sig)``: the ES256 check (default: protocol.p256, pure).
    """

    def __init__(self, root, authority_public_key, clock=None, vehicle_class=None, verify=None):
        from firmware.policy_install import load

        self.dir = root + "/policy"
        self.authority_public_key = authority_public_key
        self.clock = clock
        self.vehicle_class = vehicle_class
        self._verify = verify
        self.dropped = 0
        load(self)

    @property
    def current(self):
        """(policy, policy_id) of the current slot, or None."""
        h = self._slots[0]
        return None if h is None else (h.policy, h.pid)

    @property
    def next(self):
        """(policy, policy_id) of the announced next policy, or None."""
        h = self._slots[1]
        return None if h is None else (h.policy, h.pid)

    def lookup(self, t):
        """(TariffPolicy, policy_id) valid at Unix second ``t``, or None (no I/O).

        The next policy wins from its valid_from on (it is the newer one).
        """
        for h in (self._slots[1], self._slots[0]):
            if h is not None and h.policy.valid_from <= t < h.policy.valid_until:
                return h.policy, h.pid
        return None

    def install(self, envelope, now=None):
        """Verify and keep a signed policy; return (policy, policy_id). See the module doc."""
        from firmware.policy_install import install

        return install(self, envelope, now)

    def rotate(self, now=None):
        """Move the next policy into the current slot once its validity has begun."""
        from firmware.policy_install import rotate

        return rotate(self, now)
