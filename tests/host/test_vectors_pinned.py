"""The committed vectors are exactly what the generators produce today, and the demo's protocol
round trip (its first section) runs. The end-to-end section is tests/simulator/test_demo.py."""

from __future__ import annotations

from tests.conftest import REPO
from tools import demo, gen_vectors


def test_pinned_vectors_regenerate_byte_for_byte() -> None:
    for name, text in gen_vectors.render().items():
        assert (REPO / "protocol" / "vectors" / name).read_text() == text, (
            f"protocol/vectors/{name} is stale: run `make vectors` and review the diff"
        )


def test_protocol_demo_round_trip_succeeds(capsys) -> None:  # type: ignore[no-untyped-def]
    assert demo.protocol_round_trip() == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "[micropython] opening of segment" in out
