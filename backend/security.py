"""API tokens: random secrets shown once; only their SHA-256 is stored.

A token is ``qm_<role initial>_<43 chars of base64url>`` (256 bits). SHA-256 without salt is
enough here: the secret has full entropy, so there is nothing to brute-force, and an unsalted
hash lets the lookup be one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "qm"


def new_token(role: str) -> str:
    return f"{TOKEN_PREFIX}_{role[0]}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()
