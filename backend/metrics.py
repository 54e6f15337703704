"""Prometheus metrics. Labels carry error codes and outcomes only, never ids or plates."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

STATEMENTS_ACCEPTED = Counter(
    "quietmile_statements_verified_total", "Statements verified, stored and receipted"
)
STATEMENT_DUPLICATES = Counter(
    "quietmile_statement_duplicates_total",
    "Re-submitted statements answered with their original receipt",
)
STATEMENT_FAILURES = Counter(
    "quietmile_statement_failures_total", "Refused statements by error code", ["reason"]
)
STATEMENT_SEGMENTS = Counter(
    "quietmile_statement_segments_total", "Segments in accepted statements"
)
INGEST_SECONDS = Histogram(
    "quietmile_statement_ingest_seconds",
    "Time to verify and store one statement",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SIGNED_REQUEST_FAILURES = Counter(
    "quietmile_signed_request_failures_total",
    "Refused signed OBU requests by error code",
    ["reason"],
)

# --- spot checks, audits, disputes ---------------------------------------------------------
CHALLENGES_ISSUED = Counter(
    "quietmile_challenges_issued_total", "Challenges issued by kind and origin", ["kind", "origin"]
)
CHALLENGE_OUTCOMES = Counter(
    "quietmile_challenge_outcomes_total",
    "Closed challenges by outcome (pass, fail, no_answer)",
    ["outcome"],
)
OPENINGS_VERIFIED = Counter(
    "quietmile_openings_verified_total",
    "Openings judged (challenge answers and dispute segments) by result",
    ["context", "result"],
)
OPENING_FAILURES = Counter(
    "quietmile_opening_failures_total", "Failed openings by reason (error code)", ["reason"]
)
OPENING_REFUSALS = Counter(
    "quietmile_opening_refusals_total",
    "Opening uploads refused before judging (4xx) by error code",
    ["reason"],
)
LOG_APPENDS = Counter(
    "quietmile_log_entries_total", "Transparency-log entries committed by kind", ["kind"]
)
