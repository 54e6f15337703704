"""Tariff policies. Published policies are public (tariffs are law): reading them needs no
token, and OBUs fetch the current one as raw COSE bytes."""

from __future__ import annotations

import base64
import re
from typing import Any

from fastapi import APIRouter, Query, Response, status

from backend.api.deps import Now, Operator, SessionDep, StateDep
from backend.api.errors import error_responses
from backend.db.models import TariffPolicy as PolicyRow
from backend.db.session import begin_write
from backend.errors import NotFound
from backend.schemas.common import TIME_MAX
from backend.schemas.policies import PolicyDetail, PolicyForm, PolicyOut
from backend.services import policies

router = APIRouter(prefix="/api/v1/policies", tags=["policies"])

COSE_MEDIA_TYPE = "application/cose"
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_COSE_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the signed TariffPolicy (COSE_Sign1)",
        "content": {COSE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def policy_out(row: PolicyRow) -> PolicyOut:
    return PolicyOut(
        policy_id=row.policy_id.hex(),
        status="published" if row.published_at is not None else "draft",
        version=row.version,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        currency=row.currency,
        created_at=row.created_at,
        published_at=row.published_at,
    )


def policy_detail(row: PolicyRow) -> PolicyDetail:
    return PolicyDetail(
        **policy_out(row).model_dump(),
        envelope_b64=base64.b64encode(row.envelope).decode("ascii"),
        envelope_hex=row.envelope.hex(),
        body=policies.form_from_policy(policies.decode_stored(row)),
    )


def _pid(policy_id: str) -> bytes:
    if not _ID_RE.match(policy_id):
        raise NotFound("policy ids are 32 lowercase hex digits")
    return bytes.fromhex(policy_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create and sign a policy as a draft (operator)",
    responses=error_responses(401, 403, 409, 422),
)
def create_policy(
    body: PolicyForm, actor: Operator, session: SessionDep, state: StateDep, now: Now
) -> PolicyDetail:
    begin_write(session)
    row = policies.create_policy(session, state.signer, body, now)
    session.commit()
    return policy_detail(row)


@router.get("", summary="Published policies, optionally those valid at an instant (public)")
def list_published(
    session: SessionDep,
    valid_at: int | None = Query(default=None, ge=0, le=TIME_MAX),
) -> list[PolicyOut]:
    return [
        policy_out(r) for r in policies.list_policies(session, published=True, valid_at=valid_at)
    ]


@router.get(
    "/drafts",
    summary="Draft (unpublished) policies (operator)",
    responses=error_responses(401, 403),
)
def list_drafts(actor: Operator, session: SessionDep) -> list[PolicyOut]:
    return [policy_out(r) for r in policies.list_policies(session, published=False)]


@router.get(
    "/current",
    summary="The signed policy valid now (or at ?at=), raw COSE bytes for the OBU (public)",
    response_class=Response,
    responses={**_COSE_200, **error_responses(404, 422)},
)
def current_envelope(
    session: SessionDep, now: Now, at: int | None = Query(default=None, ge=0, le=TIME_MAX)
) -> Response:
    row = policies.current_policy(session, now if at is None else at)
    return Response(
        row.envelope,
        media_type=COSE_MEDIA_TYPE,
        headers={"QM-Policy-Id": row.policy_id.hex()},
    )


@router.get(
    "/current/json",
    summary="The policy valid now (or at ?at=), JSON view with the envelope (public)",
    responses=error_responses(404, 422),
)
def current_json(
    session: SessionDep, now: Now, at: int | None = Query(default=None, ge=0, le=TIME_MAX)
) -> PolicyDetail:
    return policy_detail(policies.current_policy(session, now if at is None else at))


@router.get(
    "/{policy_id}",
    summary="A published policy, JSON view (public)",
    responses=error_responses(404),
)
def get_policy(policy_id: str, session: SessionDep) -> PolicyDetail:
    return policy_detail(policies.get_policy(session, _pid(policy_id), published_only=True))


@router.get(
    "/{policy_id}/envelope",
    summary="A published policy, raw COSE bytes (public)",
    response_class=Response,
    responses={**_COSE_200, **error_responses(404)},
)
def get_policy_envelope(policy_id: str, session: SessionDep) -> Response:
    row = policies.get_policy(session, _pid(policy_id), published_only=True)
    return Response(row.envelope, media_type=COSE_MEDIA_TYPE)


@router.post(
    "/{policy_id}/publish",
    summary="Publish a draft (operator); refused if it overlaps a published policy",
    responses=error_responses(401, 403, 404, 409),
)
def publish(policy_id: str, actor: Operator, session: SessionDep, now: Now) -> PolicyOut:
    begin_write(session)
    row = policies.publish_policy(session, _pid(policy_id), now)
    session.commit()
    return policy_out(row)


@router.delete(
    "/{policy_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a draft (operator); published policies are permanent",
    responses=error_responses(401, 403, 404, 409),
)
def delete_draft(policy_id: str, actor: Operator, session: SessionDep) -> None:
    begin_write(session)
    policies.delete_draft(session, _pid(policy_id))
    session.commit()
