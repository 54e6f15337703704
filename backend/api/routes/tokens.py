"""API tokens: an operator issues driver tokens; any token can describe itself."""

from __future__ import annotations

from fastapi import APIRouter, status

from backend.api.deps import CurrentActor, Now, Operator, SessionDep
from backend.api.errors import error_responses
from backend.db.models import ApiToken
from backend.db.session import begin_write
from backend.errors import NotFound
from backend.schemas.common import PathId
from backend.schemas.tokens import TokenCreate, TokenCreated, TokenInfo
from backend.services import tokens

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        role=row.role,
        driver_id=row.driver_id,
        label=row.label,
        created_at=row.created_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a driver token (operator). The secret is shown once.",
    responses=error_responses(401, 403, 404, 422),
)
def create_token(body: TokenCreate, actor: Operator, session: SessionDep, now: Now) -> TokenCreated:
    begin_write(session)
    row, secret = tokens.create_token(session, body.role, now, body.driver_id, body.label)
    session.commit()
    return TokenCreated(**_info(row).model_dump(), token=secret)


@router.get("/me", summary="The calling token (any role)", responses=error_responses(401))
def whoami(actor: CurrentActor, session: SessionDep) -> TokenInfo:
    row = session.get(ApiToken, actor.token_id)
    if row is None:
        raise NotFound("token vanished")
    return _info(row)


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a token (operator)",
    responses=error_responses(401, 403, 404),
)
def revoke_token(token_id: PathId, actor: Operator, session: SessionDep, now: Now) -> None:
    begin_write(session)
    tokens.revoke_token(session, token_id, now)
    session.commit()
