"""Signed envelopes: every signed message is a COSE_Sign1 (ES256) whose protected header names
the signer's key id and the message's content type (labels.CTY_*). A signature over one
message kind can therefore never be accepted as another kind."""

from protocol import cose, labels
from protocol.hashing import tagged_hash


def sign_statement(statement, signer):
    """COSE_Sign1 envelope of a Statement, signed by the OBU."""
    return cose.sign1(statement.encode(), signer, labels.CTY_STATEMENT)


def statement_hash(envelope):
    """Hash of a signed statement envelope; the next statement's prev_hash (SPEC §5.3)."""
    return tagged_hash(labels.STATEMENT_HASH, envelope)


def sign_policy(policy, signer):
    """COSE_Sign1 envelope of a TariffPolicy body, signed by the authority."""
    from protocol import policy_wire  # imported where used: the OBU's uplink needs none of it

    return cose.sign1(policy_wire.encode_policy(policy), signer, labels.CTY_TARIFF_POLICY)


def open_policy(envelope, resolve_key, verify=None):
    """Verify a signed policy and return (policy, policy_id). Raises the cose/message errors."""
    from protocol import policy_wire

    s1 = cose.verify_sign1(envelope, resolve_key, labels.CTY_TARIFF_POLICY, verify=verify)
    policy = policy_wire.decode_policy(s1.payload)
    return policy, policy_wire.policy_id(s1.payload)


def sign_message(message, signer, content_type):
    """COSE_Sign1 envelope of any messages.Message."""
    return cose.sign1(message.encode(), signer, content_type)


def open_message(envelope, cls, resolve_key, content_type, verify=None):
    """Verify an envelope and decode its payload as ``cls``. Returns (message, kid)."""
    s1 = cose.verify_sign1(envelope, resolve_key, content_type, verify=verify)
    return cls.decode(s1.payload), s1.kid
