"""A campaign in chunks: several fleet runs reported as one.

A long campaign (≥ 1,000 vehicle-months) need not be one run: it can be several independent
runs of the same configuration with different seeds — each with its own fleet, cameras and
backend, each a few tens of minutes — whose results are then reported together::

    simulate fleet --preset long --seed 2026 --vehicles 100 --out var/long/chunk-2026
    …
    simulate report var/long/chunk-*/results.json --out var/long/report

:func:`union` merges the chunks' :class:`RunResult` s into one, on which simulator.metrics and
simulator.report work unchanged: every vehicle keeps its own trips, statements, challenges and
openings, so figures pooled over trips, vehicle-periods, spot checks or vehicle-months are the
same as if the runs had been one with a larger fleet. What each chunk's backend did (its calls,
database, Prometheus counters) is kept per chunk in ``RunResult.chunks`` and summed in
``RunResult.backend``.

Identifiers are made distinct across chunks:

- vehicle indices are renumbered: chunk k's vehicle i becomes ``i + (vehicles of chunks
  before k)`` — in the specs, trips, sightings, syncs, cheat posts, openings, statements, the
  backend's statements and challenges, totals, tracks and ``backend_ids``;
- each backend numbers its own rows from 1: backend vehicle ids (``backend_ids``, the
  ``vehicle_id`` of statements and challenges) and sighting ids are shifted past the
  previous chunks' largest;
- camera ids (cameras, sightings) and challenge ids (challenges, sightings, openings) name
  objects of one chunk's world or backend: they get the chunk's seed as a prefix,
  ``"2027:F003"``;
- plates, OBU ids, vehicle seeds and trip ids already carry the run's seed; a union of runs
  whose plates collide (seeds equal modulo 10,000) is refused, as is a union of runs that
  differ in anything but the seed, the fleet size and how they were run (``RUN_FIELDS``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from simulator.fleet import RunResult, Timing

# FleetConfig fields that may differ between the chunks of one campaign: everything else
# (dates, period, mix, cameras, audits, timing of syncs and jobs) must agree, or pooling
# their figures would mix different experiments.
RUN_FIELDS = frozenset({"seed", "vehicles", "micropython", "workers", "database_url", "heap"})
# Summed Prometheus samples that are not counts: the time a series was created.
_NOT_ADDITIVE = ("_created",)


class ChunkError(ValueError):
    """The runs cannot be reported as one campaign (see the module docstring)."""


def load_union(paths: Iterable[Path]) -> RunResult:
    """Load saved runs (``results.json``); one path gives that run, several their union."""
    results = [RunResult.load(Path(p)) for p in paths]
    if not results:
        raise ChunkError("no results to load")
    return results[0] if len(results) == 1 else union(results)


def union(results: Sequence[RunResult]) -> RunResult:
    """One RunResult holding every chunk's vehicles (see the module docstring)."""
    if not results:
        raise ChunkError("a union needs at least one run")
    _check(results)
    first = results[0].config
    config = dict(first)
    config["vehicles"] = sum(r.config["vehicles"] for r in results)
    config["micropython"] = sum(r.config["micropython"] for r in results)
    out = RunResult(
        config=config,
        vehicles=[],
        backend_ids={},
        trips=[],
        sightings=[],
        syncs=[],
        cheat_posts=[],
        openings=[],
        statements=[],
        backend_statements=[],
        challenges=[],
        totals=[],
        cameras=[],
        tracks={},
        timing=Timing(),
        backend={},
        wall_s=0.0,
        chunks=[],
    )
    v_off = 0  # vehicle indices
    id_off = 0  # backend vehicle ids
    s_off = 0  # backend sighting ids
    for r in results:
        _add(out, r, v_off, id_off, s_off)
        v_off += r.config["vehicles"]
        id_off += max(r.backend_ids.values(), default=0)
        s_off += max((s.sighting_id or 0 for s in r.sightings), default=0)
    out.backend = _backend_total([r.backend for r in results])
    return out


def _check(results: Sequence[RunResult]) -> None:
    first = results[0].config
    for r in results:
        if r.chunks:
            raise ChunkError("a run is already a union: give its chunks' results instead")
        for key in sorted(set(first) | set(r.config)):
            if key not in RUN_FIELDS and r.config.get(key) != first.get(key):
                raise ChunkError(
                    f"runs differ in {key!r} ({first.get(key)!r} and {r.config.get(key)!r}): "
                    "chunks of one campaign differ only in " + ", ".join(sorted(RUN_FIELDS))
                )
    seeds = Counter(r.config["seed"] for r in results)
    twice = sorted(s for s, n in seeds.items() if n > 1)
    if twice:
        raise ChunkError(f"seed {twice[0]} twice: the same run would count double")
    for key in ("plate", "obu_id", "seed"):
        seen = Counter(v[key] for r in results for v in r.vehicles)
        dup = sorted(k for k, n in seen.items() if n > 1)
        if dup:
            raise ChunkError(
                f"two runs have a vehicle with {key} {dup[0]!r} (seeds equal modulo 10,000?)"
            )


def _add(out: RunResult, r: RunResult, v_off: int, id_off: int, s_off: int) -> None:
    seed = r.config["seed"]

    def v(i: int) -> int:
        return i + v_off

    def tag(ident: str | None) -> str | None:
        return None if ident is None else f"{seed}:{ident}"

    out.vehicles += [dict(d, index=v(d["index"])) for d in r.vehicles]
    out.backend_ids.update({str(v(int(k))): bid + id_off for k, bid in r.backend_ids.items()})
    out.trips += [dataclasses.replace(t, vehicle=v(t.vehicle)) for t in r.trips]
    out.sightings += [
        dataclasses.replace(
            s,
            vehicle=v(s.vehicle),
            camera_id=f"{seed}:{s.camera_id}",
            sighting_id=None if s.sighting_id is None else s.sighting_id + s_off,
            challenge_id=tag(s.challenge_id),
        )
        for s in r.sightings
    ]
    out.syncs += [dataclasses.replace(s, vehicle=v(s.vehicle)) for s in r.syncs]
    out.cheat_posts += [dataclasses.replace(c, vehicle=v(c.vehicle)) for c in r.cheat_posts]
    out.openings += [
        dataclasses.replace(o, vehicle=v(o.vehicle), challenge_id=f"{seed}:{o.challenge_id}")
        for o in r.openings
    ]
    out.statements += [dataclasses.replace(s, vehicle=v(s.vehicle)) for s in r.statements]
    out.backend_statements += [
        dict(st, vehicle=v(st["vehicle"]), vehicle_id=st["vehicle_id"] + id_off)
        for st in r.backend_statements
    ]
    out.challenges += [
        dict(
            ch,
            vehicle=None if ch["vehicle"] is None else v(ch["vehicle"]),
            vehicle_id=ch["vehicle_id"] + id_off,
            challenge_id=tag(ch["challenge_id"]),
        )
        for ch in r.challenges
    ]
    out.totals += [dataclasses.replace(t, vehicle=v(t.vehicle)) for t in r.totals]
    out.cameras += [dict(c, camera_id=f"{seed}:{c['camera_id']}") for c in r.cameras]
    out.tracks.update({str(v(int(k))): tr for k, tr in r.tracks.items()})
    out.timing.merge(r.timing)
    out.wall_s += r.wall_s
    out.chunks.append(
        {
            "seed": seed,
            "first_vehicle": v_off,
            "vehicles": r.config["vehicles"],
            "workers": r.config["workers"],
            "trips": len(r.trips),
            "statements": len(r.backend_statements),
            "challenges": len(r.challenges),
            "wall_s": r.wall_s,
            "backend": r.backend,
        }
    )


def _backend_total(backends: list[dict[str, Any]]) -> dict[str, Any]:
    """The chunks' backend figures added up (their per-chunk values stay in ``chunks``)."""
    databases = sorted({str(b.get("database")) for b in backends})
    sizes = [b.get("db_bytes") for b in backends]
    calls: Counter[str] = Counter()
    call_s: dict[str, float] = {}
    metrics: dict[str, float] = {}
    for b in backends:
        calls.update(b.get("calls", {}))
        for k, s in b.get("call_s", {}).items():
            call_s[k] = call_s.get(k, 0.0) + s
        for k, x in b.get("metrics", {}).items():
            name = k.split("{", 1)[0]
            if not name.endswith(_NOT_ADDITIVE):
                metrics[k] = metrics.get(k, 0.0) + x
    return {
        "database": databases[0] if len(databases) == 1 else " + ".join(databases),
        "db_bytes": None if any(s is None for s in sizes) else sum(sizes),
        "calls": dict(calls),
        "call_s": call_s,
        "metrics": metrics,
        "aggregates": None,  # per chunk: chunks[i]["backend"]["aggregates"]
    }


__all__ = ["RUN_FIELDS", "ChunkError", "load_union", "union"]
