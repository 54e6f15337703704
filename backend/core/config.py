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
    # Retention windows (DESIGN §2): opened segment records (from their receipt; openings of
    # an unresolved dispute are kept until it is resolved) and camera sightings (from their
    # receipt; a sighting whose challenge is still open is kept until it closes).
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

    # Sighting tolerance model (backend/services/tolerance.py; README "Tolerance model").
    # The camera position must lie within
    #   max(min, k·sqrt(σ_gnss² + accuracy²)) + multipath + path slack
    # of the opened trace around the sighting time. The defaults are deliberately generous:
    # a false accusation of an honest driver is worse than a missed cheat (DESIGN §8).
    # σ of one GNSS fix (white noise and slow bias together, per axis): consumer receivers
    # reach 2–5 m open-sky; a poor antenna at HDOP 4 in town reaches ~10 m.
    sighting_gnss_sigma_mm: int = Field(default=10_000, ge=0, le=1_000_000)
    # k: a 2-D error exceeds k·σ with probability exp(−k²/2); k = 6 gives 1.5e-8 per check.
    sighting_sigma_multiplier: int = Field(default=6, ge=1, le=100)
    # Floor of the Gaussian term.
    sighting_min_tolerance_mm: int = Field(default=25_000, ge=0, le=10_000_000)
    # Multipath excursions are not Gaussian: in street canyons a receiver reports fixes
    # 20–90 m off for seconds, the firmware keeps them as trace points (they look like
    # driving), and a camera may see the car exactly then. Added in full.
    sighting_multipath_mm: int = Field(default=100_000, ge=0, le=10_000_000)
    # The trace is sampled (firmware: every 10 s), and the road between two samples need not
    # be straight: the car lies in the ellipse with the samples as foci whose major axis is
    # the path it can drive between them at this speed (40 m/s = 144 km/h) ...
    sighting_path_speed_mm_per_s: int = Field(default=40_000, ge=0, le=200_000)
    # ... but never more than this: a unit that samples sparsely must not buy itself slack.
    sighting_path_slack_max_mm: int = Field(default=250_000, ge=0, le=10_000_000)
    # Camera clocks against GNSS time: the sighting instant is taken as at_time ± this.
    sighting_clock_skew_s: int = Field(default=2, ge=0, le=60)

    # Scheduled random-index audits: each newly received statement with segments is audited
    # with this probability (per mille), opening this many distinct random segments.
    audit_rate_permille: int = Field(default=10, ge=0, le=1000)
    audit_segments_per_statement: int = Field(default=1, ge=1, le=16)

    # OBU uploads: one Opening (a 512-point record is ~8 KB), and a dispute batch of at most
    # dispute_batch_max openings in at most max_upload_bytes.
    max_opening_bytes: int = Field(default=64 * 1024, gt=0)
    dispute_batch_max: int = Field(default=1000, ge=1, le=100_000)
    max_upload_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    # Run the Alembic migrations when the app starts (convenient for the embedded SQLite
    # default; with several PostgreSQL workers run `python -m backend.cli migrate` instead).
    auto_migrate: bool = True

    log_level: str = "INFO"
    log_json: bool = True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (tests build their own Settings and pass them to create_app)."""
    return Settings()
