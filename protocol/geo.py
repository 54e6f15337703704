"""Integer geometry on WGS84 coordinates: odometer distance, point-in-zone, distance to a trace.

Coordinates are degrees × 10^7 as ints (``lat_e7``, ``lon_e7``; 1e-7° ≈ 11 mm). No floats:
the ESP32's MicroPython floats are 32-bit, far too coarse for positions or summed distances.

Distances use a local flat-earth (equirectangular) projection on the WGS84 ellipsoid: at the
mean latitude φ of the two points, one 1e-7° step north is M(φ)·π/180·1e-7 metres (M the
meridional radius of curvature) and one step east is N(φ)·cos φ·π/180·1e-7 metres (N the
prime-vertical radius). Both factors come from 1°-spaced integer tables (units of 1e-10 m per
1e-7°, i.e. ångström; all entries fit a 30-bit small int) with quadratic interpolation. The
result is the exact integer square root, rounded down to whole µm (distance_um) or mm
(distance_mm): rounding never makes a step longer. protocol/GEO.md gives the measured error
against Karney's geodesic.

Polygons do not cross the antimeridian (zones are planar in (lat_e7, lon_e7)); distances
handle it by wrapping the longitude difference.
"""

from protocol.compat import const, is_int
from protocol.errors import InvalidMessage

LAT_MAX_E7 = 900000000
LON_MAX_E7 = 1800000000
_LON_TURN_E7 = const(3600000000)

# Table spacing: 1 degree in 1e-7 degree units.
_STEP_E7 = const(10000000)
# Same spacing in 1e-5 degree units, for the quadratic term (keeps products in small ints on
# 64-bit ports; the quadratic term is ~1e-4 of the value, so 1e-5° resolution is ample).
_STEP_E5 = const(100000)
_TWO_STEP_E5_SQ = const(2 * _STEP_E5 * _STEP_E5)

# Length of 1e-7 degree of latitude (meridian arc, M(φ)·π/180·1e-7 m) and of longitude
# (parallel arc, N(φ)·cos(φ)·π/180·1e-7 m) at φ = 0°, 1°, …, 90°, in 1e-10 m, rounded.
# WGS84: a = 6378137 m, f = 1/298.257223563, e² = f(2 − f);
# M = a(1 − e²)/(1 − e² sin²φ)^1.5, N = a/(1 − e² sin²φ)^0.5.
# tests/host/test_geo_accuracy.py recomputes both tables in double precision. Each table is one
# string of 91 fields of 10 characters (right-aligned decimal), read by _k: a string constant
# stays in flash with the code (ROMFS, frozen modules), where a tuple of 91 ints would be built
# on the heap at import (~750 B at 64 bits, ~380 B at 32).
# fmt: off
_K_MERIDIAN = const(
    " 110574276 110574614 110575628 110577317 110579679 110582711 110586409 110590769"
    " 110595786 110601453 110607765 110614713 110622290 110630486 110639292 110648696"
    " 110658689 110669257 110680389 110692070 110704288 110717027 110730273 110744009"
    " 110758219 110772886 110787993 110803520 110819451 110835765 110852442 110869464"
    " 110886809 110904457 110922386 110940575 110959001 110977642 110996477 111015481"
    " 111034633 111053908 111073284 111092736 111112242 111131777 111151319 111170842"
    " 111190323 111209738 111229064 111248277 111267353 111286270 111305003 111323530"
    " 111341828 111359875 111377649 111395127 111412287 111429110 111445574 111461659"
    " 111477344 111492611 111507440 111521814 111535714 111549123 111562025 111574403"
    " 111586243 111597529 111608247 111618384 111627928 111636866 111645188 111652882"
    " 111659940 111666353 111672113 111677211 111681643 111685403 111688485 111690887"
    " 111692604 111693636 111693980"
)

_K_PARALLEL = const(
    " 111319491 111302650 111252132 111167951 111050131 110898706 110713720 110495225"
    " 110243285 109957970 109639364 109287557 108902651 108484756 108033992 107550489"
    " 107034385 106485831 105904983 105292009 104647086 103970401 103262149 102522536"
    " 101751775 100950090 100117715  99254890  98361868  97438908  96486280  95504262"
    "  94493142  93453215  92384786  91288170  90163688  89011672  87832461  86626404"
    "  85393857  84135185  82850762  81540968  80206193  78846835  77463299  76055998"
    "  74625354  73171793  71695754  70197678  68678016  67137227  65575774  63994129"
    "  62392771  60772185  59132862  57475299  55800002  54107478  52398245  50672824"
    "  48931742  47175531  45404729  43619880  41821529  40010231  38186541  36351021"
    "  34504237  32646757  30779154  28902006  27015892  25121395  23219102  21309602"
    "  19393486  17471347  15543783  13611391  11674770   9734523   7791250   5845557"
    "   3898048   1949327         0"
)
# fmt: on


def check_coord(lat_e7, lon_e7):
    """Raise InvalidMessage unless (lat_e7, lon_e7) are ints within ±90° / ±180°."""
    if not is_int(lat_e7) or not -LAT_MAX_E7 <= lat_e7 <= LAT_MAX_E7:
        raise InvalidMessage("lat_e7 must be an int in ±900000000, got %r" % (lat_e7,))
    if not is_int(lon_e7) or not -LON_MAX_E7 <= lon_e7 <= LON_MAX_E7:
        raise InvalidMessage("lon_e7 must be an int in ±1800000000, got %r" % (lon_e7,))


def _k(table, i):
    """Entry ``i`` of a table above."""
    return int(table[10 * i : 10 * i + 10])


def _interp(table, lat_e7):
    """table(|lat|) by quadratic interpolation through three 1°-spaced entries."""
    if lat_e7 < 0:
        lat_e7 = -lat_e7
    i = lat_e7 // _STEP_E7
    if i > 88:
        i = 88  # the last interval uses entries 88, 89, 90 (r up to 2°)
    r = lat_e7 - i * _STEP_E7
    f0 = _k(table, i)
    f1 = _k(table, i + 1)
    # Newton forward form: f0 + r·Δf0 + r(r − 1)/2·Δ²f0, with r in units of the spacing.
    r5 = r // 100
    return (
        f0
        + (r * (f1 - f0)) // _STEP_E7
        + (r5 * (r5 - _STEP_E5) * (_k(table, i + 2) - 2 * f1 + f0)) // _TWO_STEP_E5_SQ
    )


def _isqrt_from(n, x):
    """floor(sqrt(n)) by Newton's iteration from a start ``x`` ≥ floor(sqrt(n)), x ≥ 1."""
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return x
        x = y


def isqrt(n):
    """Exact integer square root: the largest int r with r·r ≤ n (n ≥ 0)."""
    if not is_int(n) or n < 0:
        raise InvalidMessage("isqrt needs a non-negative int, got %r" % (n,))
    if n < 2:
        return n
    # Start from 2^ceil(bits/2) ≥ sqrt(n); ints have no bit_length() on MicroPython.
    bits = 0
    m = n
    while m >= 0x10000:
        m >>= 16
        bits += 16
    while m:
        m >>= 1
        bits += 1
    return _isqrt_from(n, 1 << ((bits + 1) >> 1))


def _dlon(lon_from, lon_to):
    d = lon_to - lon_from
    if d > LON_MAX_E7:
        d -= _LON_TURN_E7
    elif d < -LON_MAX_E7:
        d += _LON_TURN_E7
    return d


def distance_um(lat1_e7, lon1_e7, lat2_e7, lon2_e7):
    """Distance in whole micrometres (rounded down) between two fixes.

    Local equirectangular projection on WGS84 at the mean latitude; meant for steps up to a
    few km (odometer steps, tunnel bridges). Error vs the geodesic: see protocol/GEO.md. An
    odometer that sums many short steps should sum these (rounding loses < 1 µm per step).
    """
    check_coord(lat1_e7, lon1_e7)
    check_coord(lat2_e7, lon2_e7)
    mid = (lat1_e7 + lat2_e7) >> 1
    dy = lat2_e7 - lat1_e7
    dx = _dlon(lon1_e7, lon2_e7)
    if dy < 0:
        dy = -dy
    if dx < 0:
        dx = -dx
    # Components in 1e-10 m, floored to µm (< 1 µm each): keeps the squares within 64-bit
    # small ints for steps up to ~2 km.
    y = (dy * _interp(_K_MERIDIAN, mid)) // 10000
    x = (dx * _interp(_K_PARALLEL, mid)) // 10000
    n = x * x + y * y
    if n < 2:
        return n
    # max + min/2 >= hypot (within 12 %): Newton starts above the root, needs ~4 steps.
    if x < y:
        x, y = y, x
    return _isqrt_from(n, x + (y >> 1) + 1)


def distance_mm(lat1_e7, lon1_e7, lat2_e7, lon2_e7):
    """Distance in whole millimetres (rounded down) between two fixes; see distance_um."""
    # floor(floor(s) / 1000) == floor(s / 1000): still a single rounding.
    return distance_um(lat1_e7, lon1_e7, lat2_e7, lon2_e7) // 1000


def point_in_ring(lat_e7, lon_e7, ring):
    """True if the point is inside the ring (list of (lat_e7, lon_e7), implicitly closed; or
    the same packed flat, lat_e7, lon_e7, lat_e7, …: :func:`pack_ring`).

    Crossing-number (even–odd) test with a ray towards the east, in exact integer arithmetic.
    Boundary rule: a point exactly on an edge or vertex is classified like the point moved an
    infinitesimal step east (and a far smaller step north). So a boundary point belongs to the
    ring whose interior lies immediately east of it (north of it, on an east–west edge), and
    rings that tile an area claim every shared boundary point exactly once.
    """
    inside = False
    flat = type(ring[0]) is int
    if flat:
        lat_i = ring[-2]
        lon_i = ring[-1]
    else:
        lat_i, lon_i = ring[-1]
    for k in range(0, len(ring), 2) if flat else range(len(ring)):
        if flat:
            lat_j = ring[k]
            lon_j = ring[k + 1]
        else:
            lat_j, lon_j = ring[k]
        # Half-open in latitude: a vertex on the ray's line counts as south of it, so an edge
        # through a vertex is counted once and east–west edges never.
        if (lat_j > lat_e7) != (lat_i > lat_e7):
            if lon_i > lon_e7 and lon_j > lon_e7:
                inside = not inside  # crossing wholly east of the point
            elif lon_i > lon_e7 or lon_j > lon_e7:
                # Crossing longitude x = lon_i + (lat − lat_i)(lon_j − lon_i)/(lat_j − lat_i);
                # count it if x > lon_e7 strictly, cross-multiplied to stay exact.
                lhs = (lon_e7 - lon_i) * (lat_j - lat_i)
                rhs = (lat_e7 - lat_i) * (lon_j - lon_i)
                if (lhs < rhs) if lat_j > lat_i else (lhs > rhs):
                    inside = not inside
        lat_i = lat_j
        lon_i = lon_j
    return inside


def pack_ring(ring):
    """A ring of (lat_e7, lon_e7) vertices packed flat in an ``array('i')`` (lat, lon, lat, …),
    as :func:`point_in_ring` also takes it: 8 bytes a vertex where a tuple and its list slot
    take 40 at 64 bits (24 at 32) — how the OBU holds its policy's zones
    (tariff.TariffPolicy.for_obu). Coordinates fit: |lon_e7| <= 1.8e9 < 2^31."""
    from array import array

    n = len(ring)
    out = array("i", bytes(8 * n))  # the whole size at once: appending would regrow it
    for k in range(n):
        v = ring[k]
        out[2 * k] = v[0]
        out[2 * k + 1] = v[1]
    return out


def point_in_polygon(lat_e7, lon_e7, polygon):
    """True if the point is inside ``polygon`` = [outer ring, hole, hole, …].

    Inside means inside the outer ring and inside no hole, each with the boundary rule of
    :func:`point_in_ring` (so a point on a hole's edge is in the hole iff the hole lies east).
    """
    if not point_in_ring(lat_e7, lon_e7, polygon[0]):
        return False
    for k in range(1, len(polygon)):
        if point_in_ring(lat_e7, lon_e7, polygon[k]):
            return False
    return True


def bbox_of(points):
    """``(min_lat_e7, min_lon_e7, max_lat_e7, max_lon_e7)`` of a non-empty point sequence."""
    if not points:
        raise InvalidMessage("bbox_of needs at least one point")
    min_lat, min_lon = points[0]
    max_lat = min_lat
    max_lon = min_lon
    for lat, lon in points:
        if lat < min_lat:
            min_lat = lat
        elif lat > max_lat:
            max_lat = lat
        if lon < min_lon:
            min_lon = lon
        elif lon > max_lon:
            max_lon = lon
    return (min_lat, min_lon, max_lat, max_lon)


def in_bbox(lat_e7, lon_e7, bbox):
    """True if the point lies in the closed box ``(min_lat, min_lon, max_lat, max_lon)``."""
    return bbox[0] <= lat_e7 <= bbox[2] and bbox[1] <= lon_e7 <= bbox[3]


def _seg_dist_sq(ax, ay, bx, by):
    """Squared distance from the origin to segment AB as a fraction (num, den), in µm²."""
    dx = bx - ax
    dy = by - ay
    den = dx * dx + dy * dy
    t = -(ax * dx + ay * dy)  # projection of O − A on AB, times |AB|²
    if den == 0 or t <= 0:
        return (ax * ax + ay * ay, 1)
    if t >= den:
        return (bx * bx + by * by, 1)
    cross = ax * dy - ay * dx
    return (cross * cross, den)


def _offset_um(d_e7, k):
    """d_e7 × k (1e-10 m per 1e-7°) in µm, rounded towards zero as in distance_um."""
    if d_e7 < 0:
        return -((-d_e7 * k) // 10000)
    return (d_e7 * k) // 10000


def _project(lat_e7, lon_e7, lat0_e7, lon0_e7):
    """(east, north) offset in µm of a point from (lat0, lon0).

    Scaled at the mean latitude of the two points, exactly as distance_um does, so the
    distance from the origin to a projected vertex equals distance_um to that vertex.
    """
    mid = (lat_e7 + lat0_e7) >> 1
    return (
        _offset_um(_dlon(lon0_e7, lon_e7), _interp(_K_PARALLEL, mid)),
        _offset_um(lat_e7 - lat0_e7, _interp(_K_MERIDIAN, mid)),
    )


def point_segment_distance_mm(lat_e7, lon_e7, a, b):
    """Distance in whole mm (rounded down) from a point to the segment between fixes a and b.

    ``a`` and ``b`` are (lat_e7, lon_e7). A local map centred on the point, each vertex placed
    as :func:`distance_mm` would place it; for segments up to a few km from the point.
    """
    return point_polyline_distance_mm(lat_e7, lon_e7, (a, b))


def point_polyline_distance_mm(lat_e7, lon_e7, points):
    """Distance in whole mm (rounded down) from a point to a polyline (sequence of fixes).

    A single point gives the point-to-point distance. Used to check that a camera sighting lies
    on an opened trace; compares exact squared distances and takes one square root at the end.
    """
    check_coord(lat_e7, lon_e7)
    n = len(points)
    if n == 0:
        raise InvalidMessage("polyline needs at least one point")
    lat_a, lon_a = points[0]
    check_coord(lat_a, lon_a)
    ax, ay = _project(lat_a, lon_a, lat_e7, lon_e7)
    best_num = ax * ax + ay * ay
    best_den = 1
    for k in range(1, n):
        lat_b, lon_b = points[k]
        check_coord(lat_b, lon_b)
        bx, by = _project(lat_b, lon_b, lat_e7, lon_e7)
        num, den = _seg_dist_sq(ax, ay, bx, by)
        if num * best_den < best_num * den:
            best_num = num
            best_den = den
        ax = bx
        ay = by
    # floor(sqrt(num/den)/1000) = isqrt(floor(num/(den·10^6))), exactly.
    return isqrt(best_num // (best_den * 1000000))
