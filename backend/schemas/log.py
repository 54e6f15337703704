"""Transparency-log API schemas. Byte strings are lowercase hex; the exact signed or hashed
bytes (tree-head envelope, entry) are also given in base64 for verification."""

from __future__ import annotations

from pydantic import BaseModel, Field

from backend.schemas.common import Hex


class LogKeyOut(BaseModel):
    kid: Hex
    public_key: Hex = Field(description="SEC1 uncompressed P-256 key that signs tree heads")


class TreeHeadOut(BaseModel):
    size: int
    root_hash: Hex
    timestamp: int
    kid: Hex
    envelope_b64: str = Field(description="COSE_Sign1 (ES256) of {1: size, 2: root, 3: time}")


class LogEntryOut(BaseModel):
    index: int
    kind: str
    timestamp: int
    actor_role: str
    actor_ref: int | None
    subject_ref: Hex | None
    details: dict[str, int | str | bool | None] = Field(description="byte strings as hex")
    entry_b64: str = Field(description="the entry's canonical CBOR: the leaf is its hash")
    leaf_hash: Hex


class LogEntryProven(LogEntryOut):
    inclusion_proof: list[Hex] = Field(description="RFC 9162 audit path to the tree head")


class InclusionProofOut(BaseModel):
    index: int
    size: int
    leaf_hash: Hex
    proof: list[Hex]


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    proof: list[Hex]


class SubjectOut(BaseModel):
    vehicle_id: int
    subject_ref: Hex


class MyLogOut(BaseModel):
    """A driver's entries with inclusion proofs against one signed tree head."""

    tree_head: TreeHeadOut
    subjects: list[SubjectOut]
    entries: list[LogEntryProven]
