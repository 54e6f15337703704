"""Named fleet configurations: the default test suite's, the demo's and the long run's."""

from __future__ import annotations

from simulator import cameras as cams
from simulator import cheats
from simulator.fleet import FleetConfig

# Cameras for the runs below: 16 fixed (tiers 2/2/4/8) and 4 mobile deployments a day.
CAMERAS = cams.CameraConfig(fixed=16, mobile_per_day=4)


def short(seed: int = 10) -> FleetConfig:
    """The default suite's end-to-end run (< 60 s): 6 vehicles for 3 days with daily periods,
    one under MicroPython, two cheaters at full camera density: one charges the cheapest rate
    on every segment, one cuts the unit's power for a while on every trip."""
    return FleetConfig(
        seed=seed,
        start=(2026, 3, 2),
        days=3,
        period=86400,
        vehicles=6,
        micropython=1,
        cheater_share=1 / 3,
        strategies=(cheats.WRONG_RATE, cheats.SWITCH_OFF),
        cheat_shares=(1.0,),
        cheater_density=cams.DENSITY_LEVELS - 1,
        bad_gnss_share=0.25,
        # No random audits: their segment indices come from the backend's CSPRNG, and this
        # run must be reproducible (the demo and the long run audit).
        audit_share=0.0,
        cameras=CAMERAS,
    )


def demo(seed: int = 1) -> FleetConfig:
    """`make demo`: 10 vehicles for a week with daily periods, one under MicroPython, four
    cheaters (a cheaper rate, a fake trace, a power cut, an altered statement)."""
    return FleetConfig(
        seed=seed,
        start=(2026, 3, 2),
        days=7,
        period=86400,
        vehicles=10,
        micropython=1,
        cheater_share=0.4,
        strategies=(
            cheats.WRONG_RATE,
            cheats.FAKE_TRACE,
            cheats.SWITCH_OFF,
            cheats.ALTER_STATEMENT,
        ),
        cheat_shares=(0.5,),
        cheater_density=cams.DENSITY_LEVELS - 1,
        bad_gnss_share=0.34,
        audit_share=0.5,
        audit_segments=1,
        sync_every_s=3 * 3600,
        cameras=CAMERAS,
    )


def long(seed: int = 2026, workers: int = 2) -> FleetConfig:
    """The long run: 500 vehicles × 9 weeks (≥ 1,000 vehicle-months) with weekly periods,
    half of them cheating (every strategy × every camera density level), two under
    MicroPython. Weekly periods were chosen when the OBU fetched all its open challenges in
    one response body (~90 fitted); the list is paged now (SPEC §4.9), and the preset stays
    as it is so that runs remain comparable.

    The same campaign in chunks (simulator.campaign; README, "Simulator"): five runs of 100
    vehicles with seeds 2026…2030, ``simulate fleet --preset long --seed S --vehicles 100``,
    reported together by ``simulate report <their results.json> --out DIR``."""
    return FleetConfig(
        seed=seed,
        start=(2026, 3, 5),  # a Thursday: weekly periods start at multiples of 604800 s
        days=63,
        period=604800,
        vehicles=500,
        micropython=2,
        cheater_share=0.5,
        cheat_shares=(0.15, 0.4),
        bad_gnss_share=0.25,
        audit_share=0.25,
        sync_every_s=3 * 3600,
        workers=workers,
        # Half-hour slices keep both shard processes busy; the backend then accepts OBU
        # request timestamps up to an hour off its (simulated) clock.
        slice_s=1800,
        request_window_s=3600,
        cameras=CAMERAS,
    )


PRESETS = {"short": short, "demo": demo, "long": long}
