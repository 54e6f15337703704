"""Operations: health, metrics, OpenAPI docs, settings, the authority key, the CLI."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backend import cli, keys
from backend.core.config import Settings
from backend.core.logging import JsonFormatter
from backend.db import migrate as db_migrate
from backend.db.session import normalise_url
from protocol import cose, labels, p256
from tests.backend import support
from tests.backend.conftest import Env, Fleet


def test_health_reports_schema_and_key(env: Env) -> None:
    r = env.client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["authority_kid"] == env.authority.kid.hex()


def test_metrics_count_verified_statements_and_failures(fleet: Fleet) -> None:
    env = fleet.env
    env.submit(support.build_statement(fleet.signer, fleet.obu_id).envelope)
    env.submit(b"\x00")
    text = env.client.get("/metrics").text
    assert "quietmile_statements_verified_total" in text
    assert 'quietmile_statement_failures_total{reason="unsupported_type"}' in text or (
        "quietmile_statement_failures_total{" in text
    )
    assert "quietmile_statement_ingest_seconds_bucket" in text


def test_openapi_docs_are_served(env: Env) -> None:
    assert env.client.get("/docs").status_code == 200
    spec = env.client.get("/openapi.json").json()
    assert "/api/v1/statements" in spec["paths"]
    assert (
        "application/cose" in spec["paths"]["/api/v1/statements"]["post"]["requestBody"]["content"]
    )


def test_unknown_route_and_method_use_the_error_shape(env: Env) -> None:
    r = env.client.get("/api/v1/nothing")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    r = env.client.put("/api/v1/policies")
    assert (r.status_code, r.json()["error"]) == (405, "method_not_allowed")


def test_settings_honour_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUIETMILE_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert Settings().database_url == "postgresql://u@h/db"
    monkeypatch.setenv("QUIETMILE_DATABASE_URL", "sqlite:///x.db")
    assert Settings().database_url == "sqlite:///x.db"
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.delenv("QUIETMILE_DATABASE_URL")
    # _env_file=None: a developer's .env must not change the default under test.
    default = Settings(_env_file=None).database_url  # type: ignore[call-arg]
    assert default.startswith("sqlite:///")
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"


def test_authority_key_is_created_private_and_reloaded(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    signer = keys.load_or_create_authority_key(key_dir)
    path = keys.key_path(key_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    again = keys.load_or_create_authority_key(key_dir)
    assert again.kid == signer.kid == p256.key_id(signer.public_key())
    with pytest.raises(FileExistsError):
        keys.create_authority_key(key_dir)
    os.chmod(path, 0o644)
    with pytest.raises(keys.KeyFileError):
        keys.load_authority_key(key_dir)


def test_cryptography_signer_is_a_protocol_signer(tmp_path: Path) -> None:
    signer = keys.load_or_create_authority_key(tmp_path)
    pub = signer.public_key()
    assert len(pub) == 65 and pub[0] == 4
    sig = signer.sign(b"message")
    assert len(sig) == 64 and p256.verify(pub, b"message", sig)
    from protocol.hashing import sha256

    assert p256.verify(pub, b"digest", signer.sign_digest(sha256(b"digest")))
    env = cose.sign1(b"payload", signer, labels.CTY_RECEIPT)
    # The protocol's own (pure Python) verifier accepts the backend's envelopes.
    msg = cose.verify_sign1(env, lambda k: pub if k == signer.kid else None, labels.CTY_RECEIPT)
    assert msg.payload == b"payload"
    assert "PRIVATE" not in repr(signer)


def test_json_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    import json
    import logging

    record = logging.LogRecord("quietmile.test", logging.INFO, __file__, 1, "hello", None, None)
    record.obu_id = "OBU-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello" and line["obu_id"] == "OBU-1" and line["level"] == "info"


def test_cli_init_keys_migrate_and_create_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.core.config import get_settings

    monkeypatch.setenv("QUIETMILE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("QUIETMILE_KEY_DIR", str(tmp_path / "keys"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        r = runner.invoke(cli.app, ["init-keys"])
        assert r.exit_code == 0, r.output
        assert "kid=" in r.output
        r = runner.invoke(cli.app, ["migrate"])
        assert r.exit_code == 0, r.output
        assert f"revision {db_migrate.head_revision()}" in r.output, r.output
        r = runner.invoke(cli.app, ["create-token", "--role", "auditor", "--label", "ci"])
        assert r.exit_code == 0, r.output
        assert r.output.strip().splitlines()[-1].startswith("qm_a_")
        r = runner.invoke(cli.app, ["create-token", "--role", "driver"])
        assert r.exit_code == 2
        r = runner.invoke(cli.app, ["create-token", "--role", "root"])
        assert r.exit_code == 2
    finally:
        get_settings.cache_clear()
