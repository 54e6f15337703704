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
