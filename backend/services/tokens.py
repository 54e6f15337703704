"""API token issuance and lookup."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import ROLES, ApiToken, Driver
from backend.errors import ApiError, NotFound
from backend.security import hash_token, new_token


@dataclass(frozen=True)
class Actor:
    """The authenticated caller of a JSON endpoint."""

    token_id: int
    role: str
    driver_id: int | None


def create_token(
    session: Session, role: str, now: int, driver_id: int | None = None, label: str = ""
) -> tuple[ApiToken, str]:
    """Store a new token's hash; return the row and the secret (the only time it exists)."""
    if role not in ROLES:
        raise ApiError(f"unknown role {role!r}; one of {', '.join(ROLES)}", code="invalid_role")
    if role == "driver":
        if driver_id is None or session.get(Driver, driver_id) is None:
            raise NotFound("a driver token needs an existing driver account")
    elif driver_id is not None:
        raise ApiError("only driver tokens are bound to a driver", code="invalid_role")
    secret = new_token(role)
    row = ApiToken(
        token_hash=hash_token(secret),
        role=role,
        driver_id=driver_id,
        label=label,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, secret


def authenticate(session: Session, secret: str) -> Actor | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if row is None or row.revoked_at is not None:
        return None
    return Actor(token_id=row.id, role=row.role, driver_id=row.driver_id)


def revoke_token(session: Session, token_id: int, now: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("no such token")
    if row.revoked_at is None:
        row.revoked_at = now
    return row
