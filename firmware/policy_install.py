"""Loading, installing and rotating the policy store's signed policies (firmware/policy.py).

Imported when a PolicyStore is opened (boot) and when a policy is installed or rotated, and
unloaded with the network phase (firmware/app.py): while driving only the lookup is needed.
This module holds no class, so unloading and loading it again leaves nothing behind twice.
The slots are ``store._slots``: [current, next], each a ``firmware.policy._Held`` or None; a
held policy's signed envelope is in its slot's file on flash, not in RAM.
"""

from firmware.ledger import atomic
from protocol.compat import const, is_int

_CURRENT = const(0)
_NEXT = const(1)
_NAMES = const(("current", "next"))


def _path(store, slot):
    return "%s/%s.cose" % (store.dir, _NAMES[slot])


def _open(store, envelope):
    from firmware.policy import _Held
    from protocol import envelopes

    kid = store.kid

    def resolve(k):
        return store.authority_public_key if k == kid else None

    policy, pid = envelopes.open_policy(envelope, resolve, store._verify)
    if store.vehicle_class is not None:
        policy.for_obu(store.vehicle_class)  # one class's rates, the zones' rings packed
    return _Held(policy, pid)


def _load(store, slot):
    env = atomic.read_file(_path(store, slot))
    if env is None:
        return None
    try:
        return _open(store, env)
    except ValueError:  # every protocol error is a ValueError
        # It verified when installed: flash rot or tampering. Do not price with it.
        store.dropped += 1
        atomic.remove(_path(store, slot))
        return None


def _store(store, slot, held, envelope=None):
    """Put ``held`` in ``slot``: its ``envelope`` (bytes) written to the slot's file, or
    None: the slot is emptied."""
    if held is None:
        atomic.remove(_path(store, slot))
    else:
        atomic.atomic_write(_path(store, slot), envelope)
    store._slots[slot] = held


def load(store):
    """Open ``store``'s folder (PolicyStore.__init__): check the authority's key, clean up an
    interrupted write, verify both slots and finish an install or rotate a reset cut short."""
    from protocol import p256

    p256.decode_public_key(store.authority_public_key)  # InvalidKey now, not at the first install
    store.kid = p256.key_id(store.authority_public_key)
    atomic.ensure_dir(store.dir)
    atomic.discard_tmp(store.dir)
    store._slots = [_load(store, _CURRENT), _load(store, _NEXT)]
    cur, nxt = store._slots
    if cur is not None and nxt is not None and nxt.policy.version <= cur.policy.version:
        _store(store, _NEXT, None)  # a reset cut an install or rotate short: finish it


def install(store, envelope, now=None):
    """PolicyStore.install: verify and keep a signed policy; return (policy, policy_id)."""
    from firmware import policy_refusals as refused

    if now is None and store.clock is not None:
        now = store.clock()
    if not is_int(now):
        raise refused.ClockUnknown("no GNSS time: cannot judge the policy's validity")
    envelope = bytes(envelope)
    held = _open(store, envelope)
    p = held.policy
    for h in store._slots:
        if h is not None and h.pid == held.pid:
            return p, held.pid  # already held: installing again changes nothing
    if p.valid_until <= now:
        raise refused.PolicyExpired("policy v%d ended at %d" % (p.version, p.valid_until))
    if store.vehicle_class is not None and not p.class_rates(store.vehicle_class):
        raise refused.PolicyClassMissing(
            "policy v%d has no rates for class %d" % (p.version, store.vehicle_class)
        )
    cur, nxt = store._slots
    if p.valid_from <= now:
        if cur is not None and p.version <= cur.policy.version:
            raise refused.PolicyRollback(
                "v%d is not newer than v%d" % (p.version, cur.policy.version)
            )
        _store(store, _CURRENT, held, envelope)
        if nxt is not None and nxt.policy.version <= p.version:
            _store(store, _NEXT, None)
    else:
        newest = nxt if nxt is not None else cur
        if newest is not None and p.version <= newest.policy.version:
            raise refused.PolicyRollback(
                "v%d is not newer than v%d" % (p.version, newest.policy.version)
            )
        _store(store, _NEXT, held, envelope)
    return p, held.pid


def rotate(store, now=None):
    """PolicyStore.rotate: move the next policy into the current slot once its validity has
    begun."""
    if now is None and store.clock is not None:
        now = store.clock()
    nxt = store._slots[_NEXT]
    if nxt is None or not is_int(now) or now < nxt.policy.valid_from:
        return False
    # The envelope as it verified at boot or install, from the next slot's file (a file gone
    # since then is an OSError here, the slots unchanged: flash is not what it was).
    envelope = atomic.read_file(_path(store, _NEXT))
    if envelope is None:
        raise OSError(2)  # ENOENT
    _store(store, _CURRENT, nxt, envelope)
    _store(store, _NEXT, None)
    return True
