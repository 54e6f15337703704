"""GET /api/v1/obu/challenges in pages (SPEC §4.9): nearest deadline first, a cursor that
survives answers between pages, a page that always fits the OBU's body limit, and precise
refusals of a bad limit or cursor."""

from __future__ import annotations

import os

import pytest

from backend.services import challenges as svc
from firmware.uplink.http import HttpClient
from protocol import cbor, envelopes, labels, messages
from protocol.message_base import MAX_OBU_ID_LEN
from tests.backend import spotcheck as sc
from tests.backend import support
from tests.backend.conftest import Fleet

PATH = "/api/v1/obu/challenges"


def _issue(fleet: Fleet, p: sc.Period, n: int, *, tick_every: int = 3) -> list[bytes]:
    """``n`` sighting challenges, the clock one second on after every ``tick_every`` (so
    deadlines differ and some are shared); their ids in issue order."""
    out = []
    for k in range(n):
        if k and k % tick_every == 0:
            fleet.env.clock.now += 1
        t, lat, lon = sc.on_trace(p, k % len(p.segments))
        r = sc.sighting(fleet.env, t + k % 5, lat, lon, camera=f"CAM-{k}")
        assert r.status_code == 201 and r.json()["status"] == "challenged", r.text
        out.append(bytes.fromhex(r.json()["challenge_id"]))
    return out


def _all_pages(fleet: Fleet, query: str = "") -> list[list[messages.Challenge]]:
    pages = []
    page, cursor = sc.poll_page(fleet.env, fleet.signer, query)
    pages.append(page)
    while cursor is not None:
        page, cursor = sc.poll_page(
            fleet.env, fleet.signer, "&".join(filter(None, [query, f"cursor={cursor}"]))
        )
        pages.append(page)
    return pages


def _order(chs: list[messages.Challenge]) -> list[bytes]:
    return [c.challenge_id for c in sorted(chs, key=lambda c: (c.deadline, c.challenge_id))]


def test_a_long_list_comes_in_pages_nearest_deadline_first(fleet: Fleet) -> None:
    p = sc.submitted(fleet)
    issued = _issue(fleet, p, 70)
    pages = _all_pages(fleet)
    assert [len(page) for page in pages] == [32, 32, 6]
    got = [c for page in pages for c in page]
    assert sorted(c.challenge_id for c in got) == sorted(issued)  # each exactly once
    assert [c.challenge_id for c in got] == _order(got)
    assert len({c.deadline for c in got}) == 24  # the order was decided by deadlines too


def test_the_unit_chooses_a_smaller_page(fleet: Fleet) -> None:
    p = sc.submitted(fleet)
    issued = _issue(fleet, p, 12)
    pages = _all_pages(fleet, "limit=5")
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [c.challenge_id for page in pages for c in page] == _order(
        [c for page in pages for c in page]
    )
    assert [len(page) for page in _all_pages(fleet, "limit=12")] == [12]  # no empty last page
    assert [len(page) for page in _all_pages(fleet, "limit=32")] == [12]
    assert sorted(c.challenge_id for c in sc.poll(fleet.env, fleet.signer)) == sorted(issued)


def test_answers_and_new_challenges_between_pages_skip_nothing(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    issued = _issue(fleet, p, 40)
    seen: list[bytes] = []
    page, cursor = sc.poll_page(env, fleet.signer, "limit=16")
    for ch in page:  # the unit answers a page before it asks for the next
        assert sc.answer(env, fleet.signer, p.sign(p.opening(ch, empty=True))).status_code == 201
    seen += [c.challenge_id for c in page]
    env.clock.now += 60
    later = _issue(fleet, p, 2)  # issued meanwhile: a later deadline, so a later page
    page, cursor = sc.poll_page(env, fleet.signer, f"limit=16&cursor={cursor}")
    assert len(page) == 16 and cursor is not None
    seen += [c.challenge_id for c in page]
    page, cursor = sc.poll_page(env, fleet.signer, f"limit=16&cursor={cursor}")
    seen += [c.challenge_id for c in page]
    assert cursor is None and len(page) == 10
    assert sorted(seen) == sorted(issued + later) and len(set(seen)) == 42
    assert [c.challenge_id for c in page][-2:] == sorted(later)
    # The next sync starts from the beginning: only what is still open.
    assert len(sc.poll(env, fleet.signer)) == 42 - 16


def test_an_empty_list_is_an_empty_last_page(fleet: Fleet) -> None:
    sc.submitted(fleet)
    assert sc.poll_page(fleet.env, fleet.signer) == ([], None)
    assert sc.poll_page(fleet.env, fleet.signer, f"cursor=1.{'ab' * 16}") == ([], None)


def test_a_full_page_fits_the_obus_body_limit_with_room_to_spare() -> None:
    limit = HttpClient("backend.example").max_body_bytes
    signer = support.obu_signer("authority")
    worst = messages.Challenge(
        bytes(16), "X" * MAX_OBU_ID_LEN, 2**32 - 1, 0, 2**40 - 1, None, 2**40 - 1
    )
    env = envelopes.sign_message(worst, signer, labels.CTY_CHALLENGE)
    assert len(cbor.encode([env] * svc.PAGE_LIMIT_MAX)) <= limit // 2


def test_the_real_page_is_well_under_the_limit(fleet: Fleet) -> None:
    p = sc.submitted(fleet)
    _issue(fleet, p, 33)
    r = sc.obu_request(fleet.env, fleet.signer, "GET", PATH)
    assert len(cbor.decode(r.content)) == 32 and "qm-next-cursor" in r.headers
    assert len(r.content) <= HttpClient("backend.example").max_body_bytes // 2


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=33",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "limit=%D9%A3",  # an Arabic-Indic digit three: decimal to Python, not to the SPEC
        "limit=1000000000000000000000",
        "limit=1&limit=2",
    ],
)
def test_a_bad_limit_is_refused_with_invalid_limit(fleet: Fleet, query: str) -> None:
    r = sc.obu_request(fleet.env, fleet.signer, "GET", f"{PATH}?{query}")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_limit"), r.text


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "",
        "12",
        "12." + "AB" * 16,  # upper case: not what the backend hands out
        "12." + "ab" * 15,
        "12." + "ab" * 17,
        "012." + "ab" * 16,
        "-1." + "ab" * 16,
        "99999999999999." + "ab" * 16,
        "12." + "ab" * 16 + "&cursor=13." + "ab" * 16,
    ],
)
def test_a_bad_cursor_is_refused_with_invalid_cursor(fleet: Fleet, cursor: str) -> None:
    r = sc.obu_request(fleet.env, fleet.signer, "GET", f"{PATH}?cursor={cursor}")
    assert (r.status_code, r.json()["error"]) == (400, "invalid_cursor"), r.text


def test_the_signature_covers_limit_and_cursor(fleet: Fleet) -> None:
    env = fleet.env
    p = sc.submitted(fleet)
    _issue(fleet, p, 3)
    _, cursor = sc.poll_page(env, fleet.signer, "limit=1")
    assert cursor is not None
    for signed, sent in (
        (f"{PATH}?limit=1", f"{PATH}?limit=2"),
        (f"{PATH}?limit=1&cursor={cursor}", f"{PATH}?limit=1"),
        (PATH, f"{PATH}?cursor={cursor}"),
    ):
        headers = support.signed_header(
            fleet.signer, "GET", signed, b"", env.clock.now, os.urandom(16)
        )
        r = env.client.get(sent, headers=headers)
        assert (r.status_code, r.json()["error"]) == (401, "request_mismatch"), (signed, sent)
