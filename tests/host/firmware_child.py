"""Firmware accounting runs under the real MicroPython binary, driven by tests/host tests.

    micropython firmware_child.py drive <root>              # a drive → segments → seal March
    micropython firmware_child.py bench <root> <minutes> [zone_e7]  # CPU, flash per segment

Run from the repository root (tests/firmware/drive_support.py drives the car). Prints
``key=value`` lines. The heap measurement has its own, smaller script: seal_child.py.
"""

import gc
import sys
import time

sys.path.insert(0, ".")


def _ms():
    return time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time() * 1000)


def _us():
    return time.ticks_us() if hasattr(time, "ticks_us") else int(time.time() * 1000000)


def _signer():
    from protocol import p256
    from protocol.hashing import sha256

    return p256.SoftwareSigner(p256.private_key_from_bytes(sha256(b"test obu")))


def drive(root):
    from firmware.accounting import Accounting
    from firmware.ledger import Store
    from firmware.odometry import Odometer
    from firmware.policy import PolicyStore
    from firmware.segments import Segmenter
    from firmware.state import ChainState
    from firmware.statement import seal_period
    from protocol.timeutil import unix_from_civil
    from tests.firmware import drive_support as ds

    t0 = unix_from_civil(2026, 3, 11, 5, 50, 0)
    acc = Accounting(Store(root))
    state = ChainState(root)
    policies = PolicyStore(root, ds.authority().public_key(), clock=lambda: t0, vehicle_class=1)
    policies.install(ds.signed_policy(ds.make_policy(1)))
    seg = Segmenter(policies, 1, acc.add)
    odo = Odometer(seg.step, seg.gap)
    lcg = ds.Lcg(5)
    path = ds.Path(ds.wiggly_path((508450000, 43300000), 150, 160, lcg))
    for f in ds.noisy_fixes(ds.drive(path, ds.speed_profile(lcg, 1500, 11000), t0), lcg):
        odo.update(f)
    seg.close()
    march = unix_from_civil(2026, 3, 1, 0, 0, 0)
    april = unix_from_civil(2026, 4, 1, 0, 0, 0)
    seq, env, h = seal_period(acc, state, march, april, "OBU-0001", _signer())
    print("segments=%d" % acc.count(march))
    print("envelope=%s" % env)


class _Timed:
    """Wraps Accounting.add to time it (the whole per-segment cost: encode, blind, salt,
    commitment, trace hash, entry, encrypted append with flush, totals, checkpoints)."""

    def __init__(self, acc):
        self.acc = acc
        self.us = 0
        self.n = 0
        self.km_m = 0

    def add(self, rec):
        t = _us()
        self.acc.add(rec)
        self.us += _us() - t
        self.n += 1
        self.km_m += rec.dist_m


def grid_policy(cell_e7):
    """The city box cut into square zones of ``cell_e7`` (degrees × 10^7 of latitude): a
    pessimistic layout where a car changes tariff cell every kilometre or so."""
    from protocol import tariff
    from protocol.timeutil import unix_from_civil

    zones = []
    rates = []
    zid = 0
    lon_cell = cell_e7 * 142 // 90
    for i in range(508000000, 509000000, cell_e7):
        for j in range(43000000, 44500000, lon_cell):
            zid += 1
            ring = [(i, j), (i, j + lon_cell), (i + cell_e7, j + lon_cell), (i + cell_e7, j)]
            zones.append(tariff.Zone(zid, "z%d" % zid, [[ring]]))
    for z in range(zid + 1):
        for b in (0, 1):
            rates.append(tariff.Rate(z, b, 1, 20000 + 1000 * (z % 7) + 5000 * b))
    t0 = unix_from_civil(2026, 1, 1, 0, 0, 0)
    bands = [tariff.TimeBand(1, 0b0011111, 7 * 60, 9 * 60 + 30)]
    p = tariff.TariffPolicy(
        1, t0, unix_from_civil(2027, 1, 1, 0, 0, 0), [(t0, 3600)], zones, bands, rates, "EUR"
    )
    p.validate()
    return p


def bench(root, minutes, cell_e7=0):
    import os

    from firmware.accounting import Accounting
    from firmware.ledger import Store
    from firmware.odometry import Odometer
    from firmware.policy import PolicyStore
    from firmware.segments import Segmenter
    from protocol import pedersen
    from protocol.timeutil import unix_from_civil
    from tests.firmware import drive_support as ds

    t0 = unix_from_civil(2026, 3, 11, 6, 30, 0)
    store = Store(root)
    acc = Accounting(store)
    policies = PolicyStore(root, ds.authority().public_key(), clock=lambda: t0, vehicle_class=1)
    policy = grid_policy(cell_e7) if cell_e7 else ds.make_policy(1)
    policies.install(ds.signed_policy(policy))
    policy = None
    timed = _Timed(acc)
    seg = Segmenter(policies, 1, timed.add)
    odo = Odometer(seg.step, seg.gap)
    lcg = ds.Lcg(9)
    seconds = minutes * 60
    # City driving that keeps crossing the core zone's edges (a pessimistic segment density):
    # a path bouncing inside the city box, 11 m/s cruise with traffic lights.
    pts = [(508450000, 43300000)]
    lat, lon = pts[0]
    dlat, dlon = 160 * 90 * 7 // 10, 160 * 142 * 7 // 10
    for _ in range(seconds // 10):
        lat += dlat * lcg.uniform(60, 140) // 100
        lon += dlon * lcg.uniform(60, 140) // 100
        if not 508100000 < lat < 508900000:
            dlat = -dlat
        if not 43100000 < lon < 44300000:
            dlon = -dlon
        if lcg.uniform(0, 9) == 0:
            dlat, dlon = dlon * 90 // 142, -dlat * 142 // 90
        pts.append((lat, lon))
    path = ds.Path(pts)
    pts = None
    t_fix = 0
    n_fix = 0
    for f in ds.noisy_fixes(ds.drive(path, ds.speed_profile(lcg, seconds, 11000), t0), lcg):
        t = _us()
        odo.update(f)
        t_fix += _us() - t
        n_fix += 1
    seg.close()
    acc.checkpoint()
    # the bare commitment, same process, same conditions
    blinds = [pedersen.random_blind(os.urandom) for _ in range(20)]
    t = _us()
    for b in blinds:
        pedersen.commit(123456, b)
    commit_us = (_us() - t) // len(blinds)
    march = unix_from_civil(2026, 3, 1, 0, 0, 0)
    print("segments=%d" % timed.n)
    print("km_x1000=%d" % timed.km_m)
    print("add_us=%d" % (timed.us // max(1, timed.n)))
    print("commit_us=%d" % commit_us)
    print("fix_us=%d" % (t_fix // max(1, n_fix)))
    print("fixes=%d" % n_fix)
    print("ledger_bytes=%d" % store.size_bytes(march))
    print("checkpoint_bytes=%d" % len(open(acc._ckpt_path(march), "rb").read()))


def main(argv):
    mode = argv[0]
    if mode == "drive":
        drive(argv[1])
    elif mode == "bench":
        bench(argv[1], int(argv[2]), int(argv[3]) if len(argv) > 3 else 0)
    else:
        raise SystemExit("unknown mode " + mode)
    gc.collect()
    if hasattr(gc, "mem_alloc"):
        print("heap_after=%d" % gc.mem_alloc())


main(sys.argv[1:])
