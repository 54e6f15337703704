"""On-board units: provisioning (with the authority-signed certificate), revocation,
replacement; and the OBU's own signed requests under /api/v1/obu."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Response, status

from backend.api.deps import (
    Now,
    Operator,
    OperatorOrDriver,
    SessionDep,
    SignedObu,
    StateDep,
    ensure_driver_owns,
)
from backend.api.errors import error_responses
from backend.db.models import Obu
from backend.db.session import begin_write
from backend.schemas.common import ObuIdPath
from backend.schemas.registry import (
    ChainStart,
    ObuCreate,
    ObuOut,
    ObuProvisioned,
    ObuReplace,
    ObuRevoke,
)
from backend.schemas.statements import ObuChainOut
from backend.services import registry
from backend.services.tokens import Actor

router = APIRouter(prefix="/api/v1/obus", tags=["registry"])
obu_router = APIRouter(prefix="/api/v1/obu", tags=["obu"])

COSE_MEDIA_TYPE = "application/cose"


def obu_out(session: SessionDep, row: Obu) -> ObuOut:
    replaced_by = session.get(Obu, row.replaced_by_id) if row.replaced_by_id else None
    return ObuOut(
        obu_id=row.obu_id,
        kid=row.kid.hex(),
        public_key=row.public_key.hex(),
        vehicle_id=row.vehicle_id,
        status="revoked" if row.revoked_at is not None else "active",
        created_at=row.created_at,
        certificate_valid_until=row.certificate_valid_until,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
        replaced_by=replaced_by.obu_id if replaced_by is not None else None,
    )


def provisioned(session: SessionDep, state: StateDep, row: Obu) -> ObuProvisioned:
    return ObuProvisioned(
        **obu_out(session, row).model_dump(),
        certificate_b64=base64.b64encode(row.certificate).decode("ascii"),
        chain=ChainStart(next_seq=row.chain_start_seq, prev_hash=row.chain_start_prev_hash.hex()),
        period_length=state.settings.period_length,
        authority_public_key=state.signer.public_key().hex(),
        authority_kid=state.signer.kid.hex(),
    )


def _visible(session: SessionDep, actor: Actor, obu_id: str) -> Obu:
    row = registry.get_obu(session, obu_id)
    ensure_driver_owns(actor, row.vehicle.driver_id)
    return row


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register an OBU for a vehicle and issue its certificate (operator)",
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def register_obu(
    body: ObuCreate, actor: Operator, session: SessionDep, state: StateDep, now: Now
) -> ObuProvisioned:
    begin_write(session)
    row = registry.register_obu(
        session,
        state.signer,
        obu_id=body.obu_id,
        public_key=bytes.fromhex(body.public_key),
        vehicle_id=body.vehicle_id,
        now=now,
        certificate_validity_s=state.settings.certificate_validity_s,
    )
    session.commit()
    return provisioned(session, state, row)


@router.get(
    "/{obu_id}",
    summary="One OBU (operator; driver: own)",
    responses=error_responses(401, 403, 404),
)
def get_obu(obu_id: ObuIdPath, actor: OperatorOrDriver, session: SessionDep) -> ObuOut:
    return obu_out(session, _visible(session, actor, obu_id))


@router.get(
    "/{obu_id}/certificate",
    summary="The OBU's authority-signed certificate, COSE_Sign1 (operator; driver: own)",
    response_class=Response,
    responses={
        200: {"content": {COSE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(401, 403, 404),
    },
)
def get_certificate(obu_id: ObuIdPath, actor: OperatorOrDriver, session: SessionDep) -> Response:
    return Response(_visible(session, actor, obu_id).certificate, media_type=COSE_MEDIA_TYPE)


@router.get(
    "/{obu_id}/provisioning",
    summary="The OBU's provisioning answer again: certificate, chain start, authority key "
    "(operator; resumes an interrupted provisioning)",
    responses=error_responses(401, 403, 404),
)
def get_provisioning(
    obu_id: ObuIdPath, actor: Operator, session: SessionDep, state: StateDep
) -> ObuProvisioned:
    return provisioned(session, state, registry.get_obu(session, obu_id))


@router.post(
    "/{obu_id}/revoke",
    summary="Revoke an OBU: its key is refused from now on (operator)",
    responses=error_responses(401, 403, 404, 409, 422),
)
def revoke_obu(
    obu_id: ObuIdPath, body: ObuRevoke, actor: Operator, session: SessionDep, now: Now
) -> ObuOut:
    begin_write(session)
    row = registry.revoke_obu(session, obu_id, body.reason, now)
    session.commit()
    return obu_out(session, row)


@router.post(
    "/{obu_id}/replace",
    status_code=status.HTTP_201_CREATED,
    summary="Replace a (broken) OBU; the new unit continues the vehicle's chain (operator)",
    responses=error_responses(400, 401, 403, 404, 409, 422),
)
def replace_obu(
    obu_id: ObuIdPath,
    body: ObuReplace,
    actor: Operator,
    session: SessionDep,
    state: StateDep,
    now: Now,
) -> ObuProvisioned:
    begin_write(session)
    _old, new = registry.replace_obu(
        session,
        state.signer,
        old_obu_id=obu_id,
        new_obu_id=body.obu_id,
        public_key=bytes.fromhex(body.public_key),
        reason=body.reason,
        now=now,
        certificate_validity_s=state.settings.certificate_validity_s,
    )
    session.commit()
    return provisioned(session, state, new)


@obu_router.get(
    "/chain",
    summary="The calling OBU's chain head: what its next statement must carry (signed request)",
    responses=error_responses(400, 401, 403),
)
def my_chain(obu: SignedObu, session: SessionDep) -> ObuChainOut:
    head = registry.chain_head(session, obu.vehicle_id)
    return ObuChainOut(
        obu_id=obu.obu_id,
        next_seq=head.next_seq,
        prev_hash=head.prev_hash.hex(),
        last_period_end=head.last_period_end,
    )
