"""Backend benchmarks, measured in one run (the machine is shared: compare ratios).

(a) CPython verification of a 1,000-segment statement (protocol.verify.verify_statement with
    backend.crypto.group.SodiumGroup and backend.crypto.ecdsa.verify) against the bare
    libsodium sum of the same 1,000 commitments (validate + add), with the parts between.
(b) Sustained ingest over real HTTP: uvicorn on 127.0.0.1 (a free port), PostgreSQL at
    postgresql+psycopg://postgres@127.0.0.1:5432/test in a throwaway schema (skipped with a
    message if unreachable), N concurrent clients (threads, httpx) each submitting a chain of
    1,000-segment statements; statements/s, p50/p99 latency, and what that means for 6
    million vehicles submitting monthly. Bounded in count and time; traffic only to
    127.0.0.1.

Run: .venv/bin/python bench/backend_bench.py [--clients 4] [--statements 25] [--workers N]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import rbcl  # noqa: E402

from backend.crypto import ecdsa  # noqa: E402
from backend.crypto.group import SodiumGroup  # noqa: E402
from protocol import cose, envelopes, messages, p256, pedersen, timeutil, verify  # noqa: E402
from tools.scenario import example_policy  # noqa: E402

PG_URL = os.environ.get(
    "QUIETMILE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SEGMENTS = 1000
VEHICLES = 6_000_000
DAY = 86400
POLICY = example_policy()
POLICY_ID = messages.policy_id(POLICY)
TIME_LIMIT_S = 600  # the ingest run stops submitting after this


# --- statements -------------------------------------------------------------------------------


class _Rng:
    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.n = 0

    def __call__(self, k: int) -> bytes:
        self.n += 1
        return (hashlib.sha512(self.seed + self.n.to_bytes(8, "big")).digest() * 2)[:k]


def build_statement(
    signer: p256.SoftwareSigner,
    obu_id: str,
    seq: int,
    prev_hash: bytes,
    period: tuple[int, int],
    n: int = SEGMENTS,
) -> bytes:
    """A signed statement of ``n`` segments whose commitments add up (libsodium commits)."""
    g = SodiumGroup()
    rng = _Rng(obu_id.encode() + seq.to_bytes(4, "big"))
    total = 0
    blind_sum = 0
    pairs = []
    for i in range(n):
        price = 500 + (i * 7919) % 200_000
        blind = pedersen.random_blind(rng)
        pairs.append((g.commit(price, blind), rng(32)))
        total += price
        blind_sum = (blind_sum + blind) % pedersen.ristretto.L
    st = messages.Statement(
        obu_id,
        seq,
        prev_hash,
        period[0],
        period[1],
        [POLICY_ID],
        total,
        pedersen.blind_to_bytes(blind_sum),
        pairs,
    )
    return envelopes.sign_statement(st, signer)


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


def bench_verification() -> None:
    print("== (a) CPython: verify a 1,000-segment statement vs the bare libsodium sum ==")
    signer = p256.SoftwareSigner(987654321)
    env = build_statement(signer, "OBU-BENCH", 0, bytes(32), (0, 30 * DAY))
    resolve = {signer.kid: signer.public_key()}.get
    g = SodiumGroup()
    s1 = cose.decode_sign1(env)
    st = messages.Statement.decode(s1.payload)
    cs = [c for c, _ in st.commitments]
    valid = rbcl.crypto_core_ristretto255_is_valid_point
    add = rbcl.crypto_core_ristretto255_add

    def bare_sum() -> None:
        acc = bytes(32)
        for c in cs:
            if not valid(c):
                raise ValueError
            acc = add(acc, c)

    def add_only() -> None:
        acc = bytes(32)
        for c in cs:
            acc = add(acc, c)

    repeat = 25
    bare = best_ms(bare_sum, repeat)
    adds = best_ms(add_only, repeat)
    decode = best_ms(lambda: messages.Statement.decode(s1.payload), repeat)
    cose_ms = best_ms(
        lambda: cose.verify_sign1(
            env, resolve, "application/quietmile.statement+cbor", verify=ecdsa.verify
        ),
        repeat,
    )
    sum_ms = best_ms(
        lambda: g.verify_sum(cs, st.total_price_micro, g.blind_from_bytes(st.blind_sum)), repeat
    )
    full = best_ms(
        lambda: verify.verify_statement(
            env, resolve, lambda kid: "OBU-BENCH", group=g, verify=ecdsa.verify
        ),
        repeat,
    )
    print(f"  statement envelope                         {len(env):8d} bytes")
    print(f"  bare libsodium: add 1,000 commitments      {adds:8.2f} ms")
    print(f"  bare libsodium: validate + add (baseline)  {bare:8.2f} ms")
    print(f"  CBOR decode + field checks                 {decode:8.2f} ms")
    print(f"  COSE + ECDSA P-256 verify (OpenSSL)        {cose_ms:8.2f} ms")
    print(f"  SodiumGroup.verify_sum (checks + sum + C)  {sum_ms:8.2f} ms")
    print(
        f"  full verify_statement                      {full:8.2f} ms  = {full / bare:.2f}x the "
        f"baseline (target <= 1.5x){'' if full / bare <= 1.5 else '  MISSED'}"
    )


# --- HTTP ingest ------------------------------------------------------------------------------


def pg_reason() -> str | None:
    import psycopg

    try:
        with psycopg.connect(
            PG_URL.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3
        ):
            return None
    except psycopg.Error as e:
        return str(e).strip().splitlines()[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pct(values: list[float], q: float) -> float:
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def bench_ingest(clients: int, per_client: int, workers: int) -> None:
    print(
        f"== (b) sustained ingest over HTTP: {clients} clients x {per_client} statements of "
        f"{SEGMENTS:,} segments, uvicorn --workers {workers}, PostgreSQL =="
    )
    reason = pg_reason()
    if reason is not None:
        print(f"  SKIPPED: PostgreSQL not reachable at {PG_URL}: {reason}")
        return
    import psycopg

    from backend.db import migrate
    from backend.db.session import make_engine, session_scope
    from backend.services.policies import form_from_policy
    from backend.services.tokens import create_token

    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    schema = f"qm_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    server: subprocess.Popen[bytes] | None = None
    keys = tempfile.mkdtemp(prefix="qm-bench-keys-")
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        from sqlalchemy.orm import sessionmaker

        with session_scope(sessionmaker(bind=engine)) as s:
            op_token = create_token(s, "operator", int(time.time()))[1]
        engine.dispose()

        port = free_port()
        env = dict(
            os.environ,
            QUIETMILE_DATABASE_URL=url,
            QUIETMILE_KEY_DIR=keys,
            QUIETMILE_AUTO_MIGRATE="false",
            QUIETMILE_LOG_LEVEL="WARNING",
        )
        # Create the keys once, so the workers do not race to create them.
        subprocess.run(
            [sys.executable, "-m", "backend.cli", "init-keys"],
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "backend.main:app_from_env",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not come up")
            time.sleep(0.3)

        op = {"Authorization": f"Bearer {op_token}"}
        with httpx.Client(base_url=base, headers=op, timeout=30) as c:
            pid = c.post("/api/v1/policies", json=form_from_policy(POLICY).model_dump()).json()
            c.post(f"/api/v1/policies/{pid['policy_id']}/publish").raise_for_status()
            units = []
            for k in range(clients):
                d = c.post("/api/v1/drivers", json={"name": f"bench {k}"}).json()
                v = c.post(
                    "/api/v1/vehicles",
                    json={"plate": f"BENCH-{k}", "vehicle_class": 1, "driver_id": d["id"]},
                ).json()
                signer = p256.SoftwareSigner(1000 + k)
                c.post(
                    "/api/v1/obus",
                    json={
                        "obu_id": f"OBU-BENCH-{k}",
                        "public_key": signer.public_key().hex(),
                        "vehicle_id": v["id"],
                    },
                ).raise_for_status()
                units.append((f"OBU-BENCH-{k}", signer))

        t0 = time.perf_counter()
        start = timeutil.unix_from_civil(2026, 2, 1, 0, 0, 0)
        chains: list[list[bytes]] = []
        for obu_id, signer in units:
            prev = bytes(32)
            chain = []
            for seq in range(per_client):
                env_bytes = build_statement(
                    signer, obu_id, seq, prev, (start + seq * DAY, start + (seq + 1) * DAY)
                )
                chain.append(env_bytes)
                prev = envelopes.statement_hash(env_bytes)
            chains.append(chain)
        size = len(chains[0][0])
        print(
            f"  built {clients * per_client} statements in {time.perf_counter() - t0:.1f} s "
            f"({size / 1024:.0f} KiB each)"
        )

        latencies: list[float] = []
        statuses: list[int] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + TIME_LIMIT_S

        def client(chain: list[bytes]) -> None:
            with httpx.Client(base_url=base, timeout=120) as c:
                for body in chain:
                    if time.monotonic() > stop_at:
                        return
                    t = time.perf_counter()
                    r = c.post(
                        "/api/v1/statements",
                        content=body,
                        headers={"content-type": "application/cose"},
                    )
                    dt = time.perf_counter() - t
                    with lock:
                        latencies.append(dt)
                        statuses.append(r.status_code)

        threads = [threading.Thread(target=client, args=(ch,)) for ch in chains]
        wall0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - wall0
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        shutil.rmtree(keys, ignore_errors=True)

    ok = sum(1 for s in statuses if s == 201)
    rate = ok / wall
    print(f"  accepted {ok}/{len(statuses)} (201) in {wall:.1f} s wall")
    print(
        f"  throughput {rate:.1f} statements/s = {rate * SEGMENTS:,.0f} segments/s; latency "
        f"p50 {pct(latencies, 0.5) * 1e3:.0f} ms, p99 {pct(latencies, 0.99) * 1e3:.0f} ms, "
        f"max {max(latencies) * 1e3:.0f} ms"
    )
    month = 30 * DAY
    print("  6 million vehicles, one 1,000-segment statement each per month:")
    for label, window in (
        ("spread over the month", month),
        ("all within 3 days of period end", 3 * DAY),
        ("all within 1 day of period end", DAY),
    ):
        need = VEHICLES / window
        machines = max(1, math.ceil(need / rate))
        print(
            f"    {label:34s} needs {need:6.1f} statements/s -> {need / rate:5.2f}x this "
            f"machine ({machines} like it; x2 headroom: {2 * machines})"
        )
    print(
        f"  (this machine: {os.cpu_count()} CPUs shared by the server, PostgreSQL and the "
        f"clients; ingest is CPU-bound in the workers, so it scales with worker processes)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--statements", type=int, default=25, help="per client")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-http", action="store_true")
    args = ap.parse_args()
    if not (1 <= args.clients <= 64 and 1 <= args.statements <= 200):
        raise SystemExit("bounded: 1..64 clients, 1..200 statements each")
    bench_verification()
    if not args.skip_http:
        bench_ingest(args.clients, args.statements, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
