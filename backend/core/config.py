"""Backend settings, read from the environment (prefix ``QUIETMILE_``) or a ``.env`` file.

``DATABASE_URL`` without the prefix is honoured too because that is what hosting platforms
and the PostgreSQL tooling set; the prefixed name wins when both are present.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DAY_S = 86400


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QUIETMILE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # SQLite file by default (embedded, no server); PostgreSQL in production via
    # postgresql+psycopg://user@host/db.
    database_url: str = Field(
        default="sqlite:///./var/quietmile.db",
        validation_alias=AliasChoices("QUIETMILE_DATABASE_URL", "DATABASE_URL", "database_url"),
    )
    # Where the authority's P-256 signing key lives (PEM, mode 0600).
    key_dir: Path = Path("./var/keys")

    # Statement periods: the OBU's configuration carries this; the backend hands it out at
    # provisioning and uses it to describe expected periods.
    period_length: Literal["month", "week", "day"] = "month"

    # How long an OBU has to answer a challenge.
    challenge_deadline_s: int = Field(default=14 * DAY_S, gt=0)
    # Retention windows (DESIGN §2): opened segment records and camera sightings.
    opened_record_retention_s: int = Field(default=90 * DAY_S, gt=0)
    sighting_retention_s: int = Field(default=30 * DAY_S, gt=0)

    # How long an issued ObuCertificate is valid.
    certificate_validity_s: int = Field(default=10 * 365 * DAY_S, gt=0)

    # A statement of 100,000 segments is ~6.9 MB; anything larger cannot be valid.
    max_statement_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # Signed OBU requests: accepted clock skew, and how long nonces are remembered (must be
    # at least twice the window so a replay inside the window always finds its nonce).
    request_window_s: int = Field(default=300, gt=0)

    # DPO aggregates: periods with fewer statements than this are suppressed.
    aggregate_min_count: int = Field(default=5, ge=1)

    # Run the Alembic migrations when the app starts (convenient for the embedded SQLite
    # default; with several PostgreSQL workers run `python -m backend.cli migrate` instead).
    auto_migrate: bool = True

    log_level: str = "INFO"
    log_json: bool = True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (tests build their own Settings and pass them to create_app)."""
    return Settings()
