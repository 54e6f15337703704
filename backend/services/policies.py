"""Tariff policies: build from the JSON form, validate, sign, store as draft, publish.

Published policies never overlap in validity, so "the policy valid at t" is unique — an OBU
and the backend can never disagree about which tariff applied.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.crypto.signer import Signer
from backend.db.models import TariffPolicy as PolicyRow
from backend.errors import Conflict, NotFound, PolicyOverlap, PolicyVersionConflict
from backend.schemas.policies import (
    BandForm,
    PolicyForm,
    RateForm,
    UtcOffset,
    ZoneForm,
)
from protocol import cose, envelopes, messages, tariff
from protocol.errors import InvalidMessage, PolicyError


def policy_from_form(form: PolicyForm) -> tariff.TariffPolicy:
    """protocol.tariff objects from the form; PolicyError unless valid on the wire too."""
    policy = tariff.TariffPolicy(
        form.version,
        form.valid_from,
        form.valid_until,
        [(o.from_t, o.offset_s) for o in form.utc_offsets],
        [
            tariff.Zone(
                z.zone_id,
                z.name,
                [[[(v[0], v[1]) for v in ring] for ring in poly] for poly in z.polygons],
            )
            for z in form.zones
        ],
        [tariff.TimeBand(b.band_id, b.days_mask, b.start_min, b.end_min) for b in form.bands],
        [
            tariff.Rate(r.zone_id, r.band_id, r.vehicle_class, r.rate_micro_per_km)
            for r in form.rates
        ],
        form.currency,
    )
    policy.validate()
    # The OBU decodes the signed body with the wire decoder: make sure it would accept it
    # (bounds the tariff model does not know, e.g. coordinate ranges, time width).
    try:
        messages.decode_policy(messages.encode_policy(policy))
    except InvalidMessage as e:
        raise PolicyError(str(e)) from None
    return policy


def form_from_policy(p: tariff.TariffPolicy) -> PolicyForm:
    return PolicyForm(
        version=p.version,
        valid_from=p.valid_from,
        valid_until=p.valid_until,
        currency=p.currency,
        utc_offsets=[UtcOffset(from_t=t, offset_s=o) for t, o in p.utc_offsets],
        zones=[
            ZoneForm(
                zone_id=z.zone_id,
                name=z.name,
                polygons=[
                    [[[lat, lon] for lat, lon in ring] for ring in poly] for poly in z.polygons
                ],
            )
            for z in p.zones
        ],
        bands=[
            BandForm(
                band_id=b.band_id, days_mask=b.days_mask, start_min=b.start_min, end_min=b.end_min
            )
            for b in p.bands
        ],
        rates=[
            RateForm(
                zone_id=r.zone_id,
                band_id=r.band_id,
                vehicle_class=r.vehicle_class,
                rate_micro_per_km=r.rate_micro_per_km,
            )
            for r in p.rates
        ],
    )


def decode_stored(row: PolicyRow) -> tariff.TariffPolicy:
    """The policy body of a stored envelope (ours: decoded without re-verifying)."""
    return messages.decode_policy(cose.decode_sign1(row.envelope).payload)


def _overlapping_published(
    session: Session, valid_from: int, valid_until: int, exclude_id: int | None = None
) -> PolicyRow | None:
    q = select(PolicyRow).where(
        PolicyRow.published_at.is_not(None),
        PolicyRow.valid_from < valid_until,
        valid_from < PolicyRow.valid_until,
    )
    if exclude_id is not None:
        q = q.where(PolicyRow.id != exclude_id)
    return session.scalars(q.limit(1)).first()


def _check_overlap(session: Session, row_from: int, row_until: int, exclude: int | None) -> None:
    other = _overlapping_published(session, row_from, row_until, exclude)
    if other is not None:
        raise PolicyOverlap(
            "validity [%d, %d) overlaps published policy %s (version %d, [%d, %d))"
            % (
                row_from,
                row_until,
                other.policy_id.hex(),
                other.version,
                other.valid_from,
                other.valid_until,
            )
        )


def create_policy(session: Session, signer: Signer, form: PolicyForm, now: int) -> PolicyRow:
    """Validate, sign and store a draft. Refuses a used version or an overlap with a
    published policy (checked again at publication)."""
    policy = policy_from_form(form)
    if session.scalar(select(PolicyRow.id).where(PolicyRow.version == policy.version)) is not None:
        raise PolicyVersionConflict("version %d is already used" % policy.version)
    _check_overlap(session, policy.valid_from, policy.valid_until, None)
    envelope = envelopes.sign_policy(policy, signer)
    row = PolicyRow(
        policy_id=messages.policy_id(policy),
        version=policy.version,
        valid_from=policy.valid_from,
        valid_until=policy.valid_until,
        currency=policy.currency,
        envelope=envelope,
        created_at=now,
        published_at=None,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise PolicyVersionConflict("version or policy id already used") from None
    return row


def get_policy(session: Session, policy_id: bytes, *, published_only: bool) -> PolicyRow:
    row = session.scalar(select(PolicyRow).where(PolicyRow.policy_id == policy_id))
    if row is None or (published_only and row.published_at is None):
        raise NotFound("no such policy")
    return row


def publish_policy(session: Session, policy_id: bytes, now: int) -> PolicyRow:
    row = get_policy(session, policy_id, published_only=False)
    if row.published_at is not None:
        raise Conflict("the policy is already published", code="already_published")
    _check_overlap(session, row.valid_from, row.valid_until, row.id)
    latest = session.scalar(
        select(func.max(PolicyRow.version)).where(PolicyRow.published_at.is_not(None))
    )
    if latest is not None and row.version <= latest:
        raise PolicyVersionConflict(
            "version %d does not increase over the published version %d" % (row.version, latest)
        )
    row.published_at = now
    session.flush()
    return row


def delete_draft(session: Session, policy_id: bytes) -> None:
    row = get_policy(session, policy_id, published_only=False)
    if row.published_at is not None:
        # Statements and OBUs rely on published policies; they are never withdrawn.
        raise Conflict("published policies cannot be deleted", code="already_published")
    session.delete(row)
    session.flush()


def list_policies(
    session: Session, *, published: bool, valid_at: int | None = None
) -> list[PolicyRow]:
    q = select(PolicyRow)
    q = q.where(
        PolicyRow.published_at.is_not(None) if published else PolicyRow.published_at.is_(None)
    )
    if valid_at is not None:
        q = q.where(PolicyRow.valid_from <= valid_at, valid_at < PolicyRow.valid_until)
    return list(session.scalars(q.order_by(PolicyRow.valid_from, PolicyRow.version)))


def current_policy(session: Session, at: int) -> PolicyRow:
    rows = list_policies(session, published=True, valid_at=at)
    if not rows:
        raise NotFound("no published policy is valid at %d" % at, code="no_current_policy")
    return rows[0]
