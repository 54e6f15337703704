"""Kill the real MicroPython accounting and sealing at random instants; nothing may be lost.

tests/host/accounting_crash_child.py commits numbered segments (Accounting.add: commitment,
ledger append, totals, checkpoints) and seals an hourly period before each hour's first segment
(seal_period: close, streamed envelope, registry, rename, chain). We SIGKILL it at random
delays, half of the runs slowed down inside the RNG and the signer, restart it, and check:

- every acknowledged segment is in its period's ledger exactly once, in order, with at most the
  one in progress beyond it (the resume point after a restart);
- every acknowledged seal's statement hash is the hash of the envelope finally in the outbox
  (an envelope never changes once sealed), seq numbers have no gap and no period is sealed
  twice;
- at the end, under CPython with libsodium: every statement verifies, chains to the previous
  one, covers one hour, and its commitments, total and count are exactly its ledger's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from backend.crypto import ecdsa
from backend.crypto.group import SodiumGroup
from firmware.accounting import Accounting
from firmware.ledger import Store
from firmware.state import ChainState
from protocol import envelopes, messages, p256, verify
from protocol.hashing import sha256
from tests.host.accounting_crash_child import OBU, PER_PERIOD, STEP, T0, period_of, record
from tests.host.crash_harness import kill_loop

CHILD = "tests/host/accounting_crash_child.py"
SIGNER = p256.SoftwareSigner(p256.private_key_from_bytes(sha256(b"crash obu")))


class Tally:
    def __init__(self) -> None:
        self.last_ack = -1  # every segment up to here was acknowledged
        self.next = 0
        self.seals: dict[int, str] = {}  # seq -> statement hash, as acknowledged
        self.starts = 0
        self.rolled_forward = 0
        self.in_flight_kept = 0
        self.seal_pending = 0  # restarts that found the previous period not sealed yet
        self.acks = 0

    def feed(self, line: str) -> None:
        kind, *rest = line.split()
        if kind == "open":
            k, next_seq, rolled = (int(x) for x in rest)
            assert self.last_ack + 1 <= k <= self.last_ack + 2, (line, self.last_ack)
            self.in_flight_kept += k == self.last_ack + 2
            self.last_ack = k - 1
            self.next = k
            self.starts += 1
            self.rolled_forward += rolled
            # every period before the current one is sealed, or being sealed right now
            assert next_seq in (k // PER_PERIOD, max(0, (k - 1) // PER_PERIOD)), line
            self.seal_pending += k > 0 and k % PER_PERIOD == 0 and next_seq < k // PER_PERIOD
        elif kind == "a":
            k = int(rest[0])
            assert k == self.next, (k, self.next)
            self.last_ack = k
            self.next = k + 1
            self.acks += 1
        else:
            seq, h = int(rest[0]), rest[1]
            assert self.seals.setdefault(seq, h) == h, f"statement {seq} changed after its seal"


def verify_all(root: Path, tally: Tally) -> int:
    """Everything on flash, read back under CPython; returns the number of statements."""
    acc = Accounting(Store(str(root)), period_of=period_of)
    state = ChainState(str(root))
    periods = acc.periods()
    total = 0
    for p in periods:
        n = acc.count(p)
        base = (p - T0) // STEP
        for i, rb, _salt, _blind, _c, _t in acc.records(p):
            expected = record(base + i)
            expected.index = i
            assert rb == expected.encode(), (p, i)
        total += n
        if p != periods[-1]:
            assert n == PER_PERIOD
    assert tally.last_ack + 1 <= total <= tally.last_ack + 2, (total, tally.last_ack)

    outbox = sorted(int(n[:-5]) for n in os.listdir(root / "outbox") if n.endswith(".cose"))
    assert outbox == list(range(len(outbox))), outbox
    assert state.next_seq == len(outbox)
    group = SodiumGroup()
    prev = None
    for seq in outbox:
        env = (root / "outbox" / f"{seq}.cose").read_bytes()
        st, _ = verify.verify_statement(
            env, lambda kid: SIGNER.public_key(), group=group, verify=ecdsa.verify
        )
        verify.check_chain(st, prev, seq - 1 if seq else None)
        prev = envelopes.statement_hash(env)
        if seq in tally.seals:
            assert tally.seals[seq] == prev.hex()
        start = T0 + 3600 * seq
        assert (st.obu_id, st.period_start, st.period_end) == (OBU, start, start + 3600)
        assert st.segment_count == PER_PERIOD == acc.count(start)
        assert st.commitments == [(bytes(c), bytes(t)) for c, t in acc.commitments(start)]
        count, price, blind_sum, pids = acc.totals(start)
        assert (
            st.total_price_micro
            == price
            == sum(
                messages.SegmentRecord.decode(rb).price_micro for _, rb, *_ in acc.records(start)
            )
        )
        assert st.policy_ids == pids
    assert prev is None or state.prev_hash == prev
    return len(outbox)


def run_crash_test(micropython: str, root: Path, kills: int, seed: int) -> Tally:
    tally = Tally()
    kill_loop(
        micropython,
        CHILD,
        root,
        kills,
        seed,
        tally.feed,
        modes=("fast", "slow"),
        anywhere_p=0.2,  # anywhere, boot included
        anywhere_s=0.15,
        boot_timeout_s=20,
        after_boot_s=0.08,
        check=lambda: verify_all(root, tally),
    )
    return tally


def _run(micropython: str, tmp_path: Path, kills: int) -> None:
    seed = int(os.environ.get("ACCOUNTING_CRASH_SEED", "0")) or int.from_bytes(os.urandom(4), "big")
    t0 = time.monotonic()
    root = tmp_path / "obu"
    tally = run_crash_test(micropython, root, kills, seed)
    statements = verify_all(root, tally)
    print(
        f"\n{kills} kills, {tally.starts} restarts, {tally.acks} acknowledged segments, "
        f"{statements} statements, {len(tally.seals)} seals acknowledged, "
        f"{tally.seal_pending} restarts with a seal pending, {tally.rolled_forward} of them "
        f"finished by boot recovery, {tally.in_flight_kept} "
        f"in-flight segments kept, 0 lost, {time.monotonic() - t0:.1f} s (seed {seed})"
    )
    assert tally.starts > kills // 2, f"too few runs got past the boot (seed {seed})"
    assert statements >= 3, f"too few periods sealed to exercise sealing (seed {seed})"
    assert tally.seal_pending > 0, f"no kill interrupted a seal (seed {seed})"


def test_killed_accounting_and_sealing_lose_nothing_and_seal_once(
    micropython: str, tmp_path: Path
) -> None:
    _run(micropython, tmp_path, 200)


@pytest.mark.slow
def test_killed_accounting_and_sealing_soak(micropython: str, tmp_path: Path) -> None:
    _run(micropython, tmp_path, 1000)
