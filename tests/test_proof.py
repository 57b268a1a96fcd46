"""Sealed proofs: bound to one action, expiring, tamper-evident, opened only with the worker's key."""

import base64
import os
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from standby.access import Binding
from standby.cli import main
from standby.proof import (
    MAX_TTL,
    ProofError,
    ProofRefused,
    credentials,
    generate_keys,
    load_private_key,
    load_public_key,
    open_proof,
    private_key_from_env,
    seal,
)

NOW = 1_900_000_000.0
APPROVE = Binding(workflow_id="standby/shop/failover", run_id="run-1", gate="approve")


@pytest.fixture
def keys(tmp_path: Path):
    generate_keys(tmp_path / "worker.key", tmp_path / "worker.pub")
    return load_private_key(tmp_path / "worker.key"), load_public_key(tmp_path / "worker.pub")


def test_a_proof_opens_with_the_worker_key_and_names_who_and_from_where(keys):
    private, public = keys
    proof = seal(public, "alice", "alice-pw", APPROVE, now=NOW, client="laptop-7")
    opened = open_proof(private, proof, APPROVE, now=NOW + 10)
    assert (opened.username, opened.password, opened.client) == ("alice", "alice-pw", "laptop-7")
    assert "alice-pw" not in repr(opened) and "alice-pw" not in proof
    assert seal(public, "alice", "alice-pw", APPROVE, now=NOW) != proof  # fresh nonce and key each time


@pytest.mark.parametrize("expected, sealed_for", [
    (Binding(workflow_id="standby/shop/failback", run_id="run-1", gate="approve"), "approve of standby/shop/failover"),
    (Binding(workflow_id="standby/shop/failover", run_id="run-2", gate="approve"), "run run-1, not"),
    (Binding(workflow_id="standby/shop/failover", run_id="run-1", gate="force"), "not force of"),
])
def test_a_proof_sent_to_another_workflow_run_or_gate_is_refused(keys, expected, sealed_for):
    private, public = keys
    with pytest.raises(ProofRefused, match=sealed_for):
        open_proof(private, seal(public, "alice", "pw", APPROVE, now=NOW), expected, now=NOW)


def test_an_expired_proof_and_one_with_incredible_times_are_refused(keys):
    private, public = keys
    with pytest.raises(ProofRefused, match="the proof expired 1s ago"):
        open_proof(private, seal(public, "alice", "pw", APPROVE, now=NOW, ttl=60), APPROVE, now=NOW + 61)
    with pytest.raises(ProofRefused, match="not credible"):
        open_proof(private, seal(public, "alice", "pw", APPROVE, now=NOW, ttl=MAX_TTL * 10), APPROVE, now=NOW)
    with pytest.raises(ProofRefused, match="not credible"):
        open_proof(private, seal(public, "alice", "pw", APPROVE, now=NOW + 3600), APPROVE, now=NOW)


def test_a_tampered_proof_or_one_for_another_worker_does_not_open(keys, tmp_path: Path):
    private, public = keys
    proof = seal(public, "alice", "pw", APPROVE, now=NOW)
    raw = bytearray(base64.urlsafe_b64decode(proof.removeprefix("sbp1.")))
    raw[50] ^= 1
    tampered = "sbp1." + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(ProofRefused, match="does not open with this worker's key"):
        open_proof(private, tampered, APPROVE, now=NOW)
    generate_keys(tmp_path / "other.key", tmp_path / "other.pub")
    with pytest.raises(ProofRefused, match="does not open with this worker's key"):
        open_proof(load_private_key(tmp_path / "other.key"), proof, APPROVE, now=NOW)
    for junk in ("", "alice", "sbp1.!!!", "sbp1." + base64.urlsafe_b64encode(b"short").decode()):
        with pytest.raises(ProofRefused, match="not a Standby proof"):
            open_proof(private, junk, APPROVE, now=NOW)


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(tmp_path: Path):
    runner = CliRunner()
    args = ["keygen", "--private-key", str(tmp_path / "w.key"), "--public-key", str(tmp_path / "w.pub")]
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    assert stat.S_IMODE((tmp_path / "w.key").stat().st_mode) == 0o600
    assert f"STANDBY_WORKER_KEY={tmp_path / 'w.key'}" in done.output
    assert load_private_key(tmp_path / "w.key") and load_public_key(tmp_path / "w.pub")
    again = runner.invoke(main, args)
    assert again.exit_code == 1 and "exists; keygen never overwrites a key" in again.output


def test_bad_key_files_are_refused_with_the_variable_and_the_fix(keys, tmp_path: Path):
    with pytest.raises(ProofError, match="STANDBY_WORKER_KEY is not set"):
        private_key_from_env({})
    with pytest.raises(ProofError, match="STANDBY_WORKER_KEY=/nonexistent/w.key: cannot read it"):
        private_key_from_env({"STANDBY_WORKER_KEY": "/nonexistent/w.key"})
    os.chmod(tmp_path / "worker.key", 0o644)
    with pytest.raises(ProofError, match="readable by others \\(mode 644\\); chmod 600 it"):
        load_private_key(tmp_path / "worker.key")
    with pytest.raises(ProofError, match="is not an X25519 public key"):
        load_public_key(Path(sys.executable))


def test_the_password_comes_from_a_file_the_environment_or_a_prompt(tmp_path: Path):
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    assert credentials("alice", secret_file, environ={"STANDBY_PASSWORD": "env"}) == ("alice", "from-file")
    assert credentials(None, None, environ={"STANDBY_PASSWORD": "env", "STANDBY_USER": "bob"}) == ("bob", "env")
    asked = []
    assert credentials("carol", None, environ={}, prompt=lambda q: asked.append(q) or "typed") == ("carol", "typed")
    assert asked == ["directory password for carol: "]
    with pytest.raises(ProofError, match="an empty one proves nothing"):
        credentials("carol", None, environ={}, prompt=lambda q: "")
