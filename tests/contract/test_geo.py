from protocol import geo
from protocol.errors import InvalidMessage
from tests.contract.support import raises

# (name, lat1_e7, lon1_e7, lat2_e7, lon2_e7, geodesic in µm) — the reference is Karney's
# geodesic on WGS84 (geographiclib 2.1, Geodesic.WGS84.Inverse(...)["s12"] · 10^6, rounded).
GEODESICS = (
    ("Brussels 1 s step", 508466000, 43528000, 508467000, 43529500, 15341453),
    ("1 km north at 50.85", 508500000, 43500000, 508589932, 43500000, 1000452934),
    ("east-west 70 m at 60 N", 600000000, 250000000, 600000000, 250012600, 70308002),
    ("diagonal 50 m at Sydney", -338688000, 1512093000, -338684900, 1512097100, 51200388),
    ("5 km east at 80 N", 800000000, 150000000, 800000000, 152590000, 5022908604),
    ("3 km across the equator", -135000, -780000000, 135000, -780000000, 2985505448),
    ("across the antimeridian", -170000000, 1799998000, -170000000, -1799998000, 42594332),
    ("tunnel bridge 2.5 km SW at 45 N", 450000000, 70000000, 449841000, 69777000, 2492926510),
    ("0.1 m step", 485000000, 95000000, 485000009, 95000000, 100080),
)


def _within(got_um, ref_um):
    # Approximation error ≤ 2e-6 relative at |lat| ≤ 80 plus < 2 µm of component rounding
    # (protocol/GEO.md); the measured worst case is far inside this.
    slack = 2 + ref_um // 500000
    return ref_um - slack <= got_um <= ref_um + slack


def test_distance_um_matches_the_wgs84_geodesic():
    for name, a, b, c, d, ref in GEODESICS:
        got = geo.distance_um(a, b, c, d)
        assert _within(got, ref), (name, got, ref)


def test_distance_mm_is_distance_um_rounded_down():
    for name, a, b, c, d, ref in GEODESICS:
        mm = geo.distance_mm(a, b, c, d)
        assert mm == geo.distance_um(a, b, c, d) // 1000, name
        slack = 2 + ref // 500000
        assert ref - slack - 1000 < mm * 1000 <= ref + slack, (name, mm, ref)


def test_distance_is_symmetric_and_zero_for_the_same_point():
    for name, a, b, c, d, _ in GEODESICS:
        assert geo.distance_um(a, b, c, d) == geo.distance_um(c, d, a, b), name
    assert geo.distance_mm(508466000, 43528000, 508466000, 43528000) == 0
    assert geo.distance_um(-900000000, 0, -900000000, 1800000000) == 0  # the pole


def test_one_e7_degree_of_latitude_is_about_11_mm():
    assert geo.distance_um(0, 0, 1, 0) == 11057  # 110574.276 m per degree at the equator
    assert geo.distance_um(0, 0, 0, 1) == 11131  # 111319.491 m per degree of longitude


def test_distance_rejects_bad_coordinates():
    raises(InvalidMessage, geo.distance_mm, 900000001, 0, 0, 0)
    raises(InvalidMessage, geo.distance_mm, 0, 0, 0, -1800000001)
    raises(InvalidMessage, geo.distance_mm, 0, 0, 0, True)
    raises(InvalidMessage, geo.distance_um, 0, 0, "1", 0)


def test_isqrt_is_exact():
    for n, r in ((0, 0), (1, 1), (2, 1), (3, 1), (4, 2), (15, 3), (16, 4), (17, 4)):
        assert geo.isqrt(n) == r, n
    big = 10**20 + 12345
    assert geo.isqrt(big * big) == big
    assert geo.isqrt(big * big - 1) == big - 1
    assert geo.isqrt(big * big + 2 * big) == big  # (big + 1)² − 1
    assert geo.isqrt(1 << 64) == 1 << 32
    n = 7
    for _ in range(200):
        r = geo.isqrt(n)
        assert r * r <= n < (r + 1) * (r + 1), n
        n = n * 3 + 1
    raises(InvalidMessage, geo.isqrt, -1)
    raises(InvalidMessage, geo.isqrt, True)


# --- point in polygon ---------------------------------------------------------------------
# Rings are (lat_e7, lon_e7); read lat as y (north) and lon as x (east).
SQUARE = [(0, 0), (0, 100), (100, 100), (100, 0)]


def _in(lat, lon, ring):
    """point_in_ring, checked to answer the same for the ring packed flat (the OBU's form)."""
    inside = geo.point_in_ring(lat, lon, ring)
    assert geo.point_in_ring(lat, lon, geo.pack_ring(ring)) == inside, (lat, lon, ring)
    return inside


def _in_polygon(lat, lon, polygon):
    inside = geo.point_in_polygon(lat, lon, polygon)
    packed = [geo.pack_ring(r) for r in polygon]
    assert geo.point_in_polygon(lat, lon, packed) == inside, (lat, lon, polygon)
    return inside


def test_a_packed_ring_holds_the_vertices_flat_as_32_bit_ints():
    ring = [(-900000000, -1800000000), (900000000, 1800000000), (1, -1)]
    packed = geo.pack_ring(ring)
    assert list(packed) == [-900000000, -1800000000, 900000000, 1800000000, 1, -1]
    assert len(bytes(packed)) == 24  # 4 bytes a coordinate


def test_point_inside_and_outside_a_square():
    assert _in(50, 50, SQUARE)
    assert not _in(150, 50, SQUARE)
    assert not _in(50, -1, SQUARE)
    assert not _in(-1, 50, SQUARE)


def test_boundary_points_belong_to_the_side_east_then_north():
    # West and south edges are in (the interior lies east / north), east and north edges out.
    assert _in(50, 0, SQUARE)  # west edge
    assert not _in(50, 100, SQUARE)  # east edge
    assert _in(0, 50, SQUARE)  # south edge
    assert not _in(100, 50, SQUARE)  # north edge
    assert _in(0, 0, SQUARE)  # south-west corner
    assert not _in(0, 100, SQUARE)  # south-east corner
    assert not _in(100, 0, SQUARE)  # north-west corner
    assert not _in(100, 100, SQUARE)  # north-east corner


def test_ray_through_a_vertex_is_counted_once():
    diamond = [(0, 50), (50, 100), (100, 50), (50, 0)]  # vertices on the point's latitude
    assert _in(50, 50, diamond)
    assert _in(50, 1, diamond)
    assert not _in(50, -10, diamond)
    assert not _in(50, 120, diamond)
    # A spike whose tip touches the ray from below and from above.
    spiky = [(0, 0), (0, 300), (100, 300), (50, 200), (100, 100), (100, 0)]
    assert _in(60, 50, spiky)
    assert not _in(60, 200, spiky)  # inside the notch
    assert _in(40, 200, spiky)  # below the notch tip
    assert _in(50, 150, spiky)  # same latitude as the tip, west of it


def test_concave_ring():
    u_shape = [(0, 0), (0, 300), (300, 300), (300, 200), (100, 200), (100, 100), (300, 100),
               (300, 0)]  # fmt: skip
    assert _in(50, 150, u_shape)  # the base
    assert _in(200, 50, u_shape)  # left arm
    assert _in(200, 250, u_shape)  # right arm
    assert not _in(200, 150, u_shape)  # the notch
    assert not _in(100, 150, u_shape)  # notch floor: interior lies south
    assert _in(200, 200, u_shape)  # notch's east side: interior lies east


def test_polygon_with_a_hole():
    polygon = [SQUARE, [(40, 40), (40, 60), (60, 60), (60, 40)]]
    assert _in_polygon(10, 10, polygon)
    assert not _in_polygon(50, 50, polygon)
    assert _in_polygon(50, 60, polygon)  # hole's east edge: the polygon is east
    assert not _in_polygon(50, 40, polygon)  # hole's west edge: the hole is east
    assert not _in_polygon(150, 150, polygon)


def _claims(tiles, lat, lon):
    n = 0
    for t in tiles:
        if geo.point_in_polygon(lat, lon, t):
            n += 1
    return n


def test_tiles_sharing_edges_claim_each_boundary_point_exactly_once():
    # Four tiles meeting at (100, 100), one with a slanted shared edge, one split by a
    # T-junction (its neighbour's edge stops at a vertex the tile does not have).
    a = [[(0, 0), (0, 100), (100, 130), (100, 0)]]
    b = [[(0, 100), (0, 200), (100, 200), (100, 130)]]
    c = [[(100, 0), (100, 130), (200, 130), (200, 0)]]
    d1 = [[(100, 130), (100, 200), (150, 200), (150, 130)]]
    d2 = [[(150, 130), (150, 200), (200, 200), (200, 130)]]
    tiles = (a, b, c, d1, d2)
    for lat in range(0, 200, 5):
        for lon in range(0, 200, 5):
            assert _claims(tiles, lat, lon) == 1, (lat, lon)
    for lat, lon in ((50, 115), (100, 130), (150, 130), (100, 100), (0, 100), (150, 0)):
        assert _claims(tiles, lat, lon) == 1, (lat, lon)


def test_bbox_of_points():
    assert geo.bbox_of(SQUARE) == (0, 0, 100, 100)
    assert geo.bbox_of([(5, -7)]) == (5, -7, 5, -7)
    assert geo.in_bbox(0, 100, (0, 0, 100, 100))
    assert not geo.in_bbox(101, 50, (0, 0, 100, 100))
    raises(InvalidMessage, geo.bbox_of, [])


# --- distance to a trace ------------------------------------------------------------------
LAT0 = 508500000  # 50.85 N: 1e-7 deg ≈ 11.13 mm north, 7.04 mm east
LON0 = 43500000


def test_point_segment_distance_perpendicular_and_beyond_the_ends():
    a = (LAT0, LON0)
    b = (LAT0, LON0 + 14200)  # ~100 m east
    # 10 m north of the middle: perpendicular foot inside the segment.
    north = geo.distance_mm(LAT0, LON0 + 7100, LAT0 + 8990, LON0 + 7100)
    d = geo.point_segment_distance_mm(LAT0 + 8990, LON0 + 7100, a, b)
    assert abs(d - north) <= 1, (d, north)
    # West of a: the distance is to the endpoint a, exactly as distance_mm measures it.
    d = geo.point_segment_distance_mm(LAT0 + 1000, LON0 - 3000, a, b)
    assert d == geo.distance_mm(LAT0 + 1000, LON0 - 3000, LAT0, LON0)
    # East of b: to the endpoint b.
    d = geo.point_segment_distance_mm(LAT0 - 500, LON0 + 20000, a, b)
    assert d == geo.distance_mm(LAT0 - 500, LON0 + 20000, b[0], b[1])
    # On the segment.
    assert geo.point_segment_distance_mm(LAT0, LON0 + 5000, a, b) == 0


def test_point_segment_distance_of_a_degenerate_segment_is_point_distance():
    for a in ((LAT0 + 100, LON0 + 100), (LAT0 - 99999, LON0 - 3), (LAT0 + 7, LON0 - 123456)):
        d = geo.point_segment_distance_mm(LAT0, LON0, a, a)
        assert d == geo.distance_mm(LAT0, LON0, a[0], a[1]), a


def test_point_polyline_distance_is_the_nearest_segment():
    trace = [(LAT0, LON0), (LAT0, LON0 + 14200), (LAT0 + 9000, LON0 + 14200)]
    # 5 m west of the second (north-going) leg.
    p = (LAT0 + 4500, LON0 + 14200 - 710)
    d = geo.point_polyline_distance_mm(p[0], p[1], trace)
    assert abs(d - geo.distance_mm(p[0], p[1], p[0], LON0 + 14200)) <= 1, d
    assert 4950 <= d <= 5050
    assert geo.point_polyline_distance_mm(LAT0, LON0, trace[:1]) == 0
    assert geo.point_polyline_distance_mm(LAT0 + 8990, LON0, trace[:1]) == geo.distance_mm(
        LAT0 + 8990, LON0, LAT0, LON0
    )
    raises(InvalidMessage, geo.point_polyline_distance_mm, LAT0, LON0, [])
    raises(InvalidMessage, geo.point_polyline_distance_mm, LAT0, LON0, [(LAT0, 1800000001)])
