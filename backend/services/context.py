"""What the spot-check, audit and dispute services need besides a session and the time."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.core.config import Settings
from backend.crypto.sealing import Sealer
from backend.crypto.signer import Signer
from backend.services.ingest import Group
from backend.services.tolerance import ToleranceModel


@dataclass(frozen=True)
class CheckContext:
    settings: Settings
    signer: Signer  # the authority: signs challenges and dispute requests
    group: Group  # commitment group for opening checks (SodiumGroup in production)
    sealer: Sealer  # opened records at rest
    tolerance: ToleranceModel = field(default_factory=ToleranceModel)

    @classmethod
    def build(
        cls, settings: Settings, signer: Signer, group: Group, sealer: Sealer
    ) -> CheckContext:
        return cls(settings, signer, group, sealer, ToleranceModel.from_settings(settings))
