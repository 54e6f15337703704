"""The TariffPolicy's wire format (SPEC.md §4.1): its CBOR map, decoding with validation, its id.

Split from protocol/messages.py, which re-exports every name: the OBU verifies its policies at
boot with this module alone, so the rest of the message code is not on the heap then.
"""

from protocol import cbor
from protocol.fields import U32, array, check_map, fail, lat_e7, lon_e7, sint, tstr, uint
from protocol.hashing import tagged_hash
from protocol.labels import POLICY_ID
from protocol.record import MAX_TIME, POLICY_ID_LEN


def _time(t, name, v):
    return uint(t, name, v, MAX_TIME)


def _ring_to_wire(ring):
    flat = []
    for lat, lon in ring:
        flat.append(lat)
        flat.append(lon)
    return flat


def _ring_from_wire(flat, name):
    t = "TariffPolicy"
    array(t, name, flat, 2 * 4096)
    if len(flat) % 2 or len(flat) < 6:
        fail(t, name, "a ring is an even list of >= 3 lat_e7/lon_e7 pairs")
    ring = []
    for i in range(0, len(flat), 2):
        ring.append((lat_e7(t, name, flat[i]), lon_e7(t, name, flat[i + 1])))
    return ring


def policy_to_map(p):
    """Wire map of a tariff.TariffPolicy (the signed body of a tariff policy)."""
    return {
        1: p.version,
        2: p.valid_from,
        3: p.valid_until,
        4: p.currency,
        5: [[t, off] for t, off in p.utc_offsets],
        6: [
            [z.zone_id, z.name, [[_ring_to_wire(r) for r in poly] for poly in z.polygons]]
            for z in p.zones
        ],
        7: [[b.band_id, b.days_mask, b.start_min, b.end_min] for b in p.bands],
        8: [[r.zone_id, r.band_id, r.vehicle_class, r.rate_micro_per_km] for r in p.rates],
    }


def policy_from_map(m):
    """Build and validate a tariff.TariffPolicy from its wire map (PolicyError/InvalidMessage)."""
    from protocol import tariff

    t = "TariffPolicy"
    check_map(t, m, (1, 2, 3, 4, 5, 6, 7, 8))
    version = uint(t, "version", m[1], U32)
    valid_from = _time(t, "valid_from", m[2])
    valid_until = _time(t, "valid_until", m[3])
    currency = tstr(t, "currency", m[4], 8)
    offsets = []
    for e in array(t, "utc_offsets", m[5], 512):
        array(t, "utc_offsets[]", e, 2, 2)
        offsets.append(
            (
                _time(t, "utc_offsets.from", e[0]),
                sint(t, "utc_offsets.offset_s", e[1], -86400, 86400),
            )
        )
    zones = []
    for e in array(t, "zones", m[6], 256):
        array(t, "zones[]", e, 3, 3)
        polys = []
        for poly in array(t, "zones.polygons", e[2], 64):
            rings = [
                _ring_from_wire(r, "zones.polygons.ring")
                for r in array(t, "zones.polygon", poly, 64)
            ]
            if not rings:
                fail(t, "zones.polygon", "needs an outer ring")
            polys.append(rings)
        zones.append(
            tariff.Zone(uint(t, "zones.zone_id", e[0], U32), tstr(t, "zones.name", e[1]), polys)
        )
    bands = []
    for e in array(t, "bands", m[7], 256):
        array(t, "bands[]", e, 4, 4)
        bands.append(
            tariff.TimeBand(
                uint(t, "bands.band_id", e[0], U32),
                uint(t, "bands.days_mask", e[1], 127),
                uint(t, "bands.start_min", e[2], 1440),
                uint(t, "bands.end_min", e[3], 1440),
            )
        )
    rates = []
    for e in array(t, "rates", m[8], 65536):
        array(t, "rates[]", e, 4, 4)
        rates.append(
            tariff.Rate(
                uint(t, "rates.zone_id", e[0], U32),
                uint(t, "rates.band_id", e[1], U32),
                uint(t, "rates.vehicle_class", e[2], 255),
                uint(t, "rates.rate_micro_per_km", e[3], U32),
            )
        )
    p = tariff.TariffPolicy(
        version, valid_from, valid_until, offsets, zones, bands, rates, currency
    )
    p.validate()
    return p


def encode_policy(p):
    """Canonical CBOR of a policy body."""
    return cbor.encode(policy_to_map(p))


def decode_policy(data):
    """Decode and validate a policy body."""
    return policy_from_map(cbor.decode(data))


def policy_id(policy_body):
    """The 16-byte id of a policy: a tagged hash of its canonical CBOR body."""
    if not isinstance(policy_body, bytes):
        policy_body = encode_policy(policy_body)
    return tagged_hash(POLICY_ID, policy_body)[:POLICY_ID_LEN]
