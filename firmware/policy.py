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
"""

from firmware.ledger import atomic
from protocol.compat import const, is_int

# protocol.envelopes and protocol.p256 (with cose, the CBOR decoder, the policy decoder and the
# tariff rules behind them) are imported where a policy is verified — at boot and on install —
# so that the App can unload them before driving (firmware/app.py).


class PolicyRefused(Exception):
    """A correctly signed policy this unit must not use (see the subclasses)."""

    code = "policy_refused"


class PolicyExpired(PolicyRefused):
    code = "policy_expired"


class PolicyRollback(PolicyRefused):
    """Not newer (by version) than the policy it would replace."""

    code = "policy_rollback"


class PolicyClassMissing(PolicyRefused):
    """The policy has no rates for this unit's vehicle class: nothing could be priced."""

    code = "policy_class_missing"


class ClockUnknown(PolicyRefused):
    """No GNSS time yet: expiry cannot be judged. Try again once there is a fix."""

    code = "clock_unknown"


_CURRENT = const("current")
_NEXT = const("next")


class _Held:
    def __init__(self, policy, pid, envelope):
        self.policy = policy
        self.pid = pid
        self.envelope = envelope


class PolicyStore:
    """The unit's tariff policies under ``root``/policy (module docstring).

    ``authority_public_key``: the 65-byte SEC1 key that signs policies (configuration).
    ``clock()``: GNSS Unix time or None. ``vehicle_class``: refuse policies that cannot price
    it. ``verify(pub, data, sig)``: the ES256 check (default: protocol.p256, pure).
    """

    def __init__(self, root, authority_public_key, clock=None, vehicle_class=None, verify=None):
        from protocol import p256

        p256.decode_public_key(authority_public_key)  # InvalidKey now, not at the first install
        self.dir = root + "/policy"
        self.authority_public_key = authority_public_key
        self.kid = p256.key_id(authority_public_key)
        self.clock = clock
        self.vehicle_class = vehicle_class
        self._verify = verify
        self.dropped = 0
        atomic.ensure_dir(self.dir)
        atomic.discard_tmp(self.dir)
        self._slots = {_CURRENT: self._load(_CURRENT), _NEXT: self._load(_NEXT)}
        cur = self._slots[_CURRENT]
        nxt = self._slots[_NEXT]
        if cur is not None and nxt is not None and nxt.policy.version <= cur.policy.version:
            self._store(_NEXT, None)  # a reset cut an install or rotate short: finish it

    # --- files -------------------------------------------------------------------------------

    def _path(self, slot):
        return "%s/%s.cose" % (self.dir, slot)

    def _resolve(self, kid):
        return self.authority_public_key if kid == self.kid else None

    def _open(self, envelope):
        from protocol import envelopes

        policy, pid = envelopes.open_policy(envelope, self._resolve, self._verify)
        if self.vehicle_class is not None:
            policy.keep_class(self.vehicle_class)  # the other classes' rates: heap never used
        return _Held(policy, pid, envelope)

    def _load(self, slot):
        env = atomic.read_file(self._path(slot))
        if env is None:
            return None
        try:
            return self._open(env)
        except ValueError:  # every protocol error is a ValueError
            # It verified when installed: flash rot or tampering. Do not price with it.
            self.dropped += 1
            atomic.remove(self._path(slot))
            return None

    def _store(self, slot, held):
        if held is None:
            atomic.remove(self._path(slot))
        else:
            atomic.atomic_write(self._path(slot), held.envelope)
        self._slots[slot] = held

    # --- API ---------------------------------------------------------------------------------

    @property
    def current(self):
        """(policy, policy_id) of the current slot, or None."""
        h = self._slots[_CURRENT]
        return None if h is None else (h.policy, h.pid)

    @property
    def next(self):
        """(policy, policy_id) of the announced next policy, or None."""
        h = self._slots[_NEXT]
        return None if h is None else (h.policy, h.pid)

    def lookup(self, t):
        """(TariffPolicy, policy_id) valid at Unix second ``t``, or None (no I/O).

        The next policy wins from its valid_from on (it is the newer one).
        """
        for slot in (_NEXT, _CURRENT):
            h = self._slots[slot]
            if h is not None and h.policy.valid_from <= t < h.policy.valid_until:
                return h.policy, h.pid
        return None

    def install(self, envelope, now=None):
        """Verify and keep a signed policy; return (policy, policy_id). See the module doc."""
        if now is None and self.clock is not None:
            now = self.clock()
        if not is_int(now):
            raise ClockUnknown("no GNSS time: cannot judge the policy's validity")
        held = self._open(bytes(envelope))
        p = held.policy
        for h in self._slots.values():
            if h is not None and h.pid == held.pid:
                return p, held.pid  # already held: installing again changes nothing
        if p.valid_until <= now:
            raise PolicyExpired("policy v%d ended at %d" % (p.version, p.valid_until))
        if self.vehicle_class is not None and not p.class_rates(self.vehicle_class):
            raise PolicyClassMissing(
                "policy v%d has no rates for class %d" % (p.version, self.vehicle_class)
            )
        cur = self._slots[_CURRENT]
        nxt = self._slots[_NEXT]
        if p.valid_from <= now:
            if cur is not None and p.version <= cur.policy.version:
                raise PolicyRollback("v%d is not newer than v%d" % (p.version, cur.policy.version))
            self._store(_CURRENT, held)
            if nxt is not None and nxt.policy.version <= p.version:
                self._store(_NEXT, None)
        else:
            newest = nxt if nxt is not None else cur
            if newest is not None and p.version <= newest.policy.version:
                raise PolicyRollback(
                    "v%d is not newer than v%d" % (p.version, newest.policy.version)
                )
            self._store(_NEXT, held)
        return p, held.pid

    def rotate(self, now=None):
        """Move the next policy into the current slot once its validity has begun."""
        if now is None and self.clock is not None:
            now = self.clock()
        nxt = self._slots[_NEXT]
        if nxt is None or not is_int(now) or now < nxt.policy.valid_from:
            return False
        self._store(_CURRENT, nxt)
        self._store(_NEXT, None)
        return True
