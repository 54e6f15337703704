"""Domain-separation labels. Every hash, derivation and signature in the protocol is bound
to exactly one of these names (SPEC.md §2). Never reuse a label for a second purpose."""

# Pedersen generator H = ristretto255 element derivation (RFC 9496 §4.3.4) of SHA-512(H_LABEL).
# Nobody knows log_B(H). Reproduce with tools/gen_ristretto_tables.py.
PEDERSEN_H = b"quietmile/v1/pedersen/H"

# Salted trace commitment of a SegmentRecord: SHA-256 over this label, the salt and the record.
TRACE_COMMITMENT = b"quietmile/v1/trace-commitment"

# Hash of a signed statement envelope, chained into the next statement's prev_hash.
STATEMENT_HASH = b"quietmile/v1/statement-hash"

# Identifier of a TariffPolicy: hash of its canonical CBOR body.
POLICY_ID = b"quietmile/v1/policy-id"

# Key id of a P-256 public key: hash of its SEC1 uncompressed encoding (first 16 bytes).
KEY_ID = b"quietmile/v1/key-id"

# COSE content types (protected header 3): one per signed message kind, so a signature over
# one kind can never be replayed as another.
CTY_TARIFF_POLICY = "application/quietmile.tariff-policy+cbor"
CTY_STATEMENT = "application/quietmile.statement+cbor"
CTY_RECEIPT = "application/quietmile.receipt+cbor"
CTY_CHALLENGE = "application/quietmile.challenge+cbor"
CTY_OPENING = "application/quietmile.opening+cbor"
CTY_OBU_CERTIFICATE = "application/quietmile.obu-certificate+cbor"
CTY_REQUEST = "application/quietmile.request+cbor"
CTY_TREE_HEAD = "application/quietmile.tree-head+cbor"
CTY_DISPUTE_REQUEST = "application/quietmile.dispute-request+cbor"
