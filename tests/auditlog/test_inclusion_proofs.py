"""Inclusion proofs: receipts that an entry is in the signed log, checkable without the log."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import mlwarden
from mlwarden.auditlog import InclusionProof, NoteSigner, NoteVerifier, verify_inclusion_proof
from mlwarden.config import Settings
from mlwarden.errors import BadInput, IntegrityError


@pytest.fixture
def ws(tmp_path: Path) -> mlwarden.Workspace:
    settings = Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode())
    workspace = mlwarden.Workspace.init(settings=settings, key_source="env")
    for i in range(37):
        workspace.datasets.put(f"row {i}\n".encode(), name=f"d{i % 5}")
    return workspace


def _verifier(ws: mlwarden.Workspace) -> NoteVerifier:
    return NoteVerifier.from_key_string(ws._audit.checkpoint().verifier_key)


def test_every_entry_has_a_proof_that_holds(ws: mlwarden.Workspace) -> None:
    checkpoint = ws.log.checkpoint()
    verifier = NoteVerifier.from_key_string(checkpoint.verifier_key)
    entries = {e.seq: e for e in ws._audit.entries()}
    for seq in range(checkpoint.size):
        proof = ws._audit.inclusion(seq, checkpoint)
        assert verify_inclusion_proof(proof, verifier) == entries[seq]
        # The JSON form round-trips.
        again = InclusionProof.from_json(json.loads(json.dumps(proof.to_json())))
        assert again == proof


def test_a_proof_against_an_older_checkpoint_still_holds(ws: mlwarden.Workspace) -> None:
    old = ws.log.checkpoint()
    ws.datasets.put(b"more\n", name="later")
    proof = ws.log.prove(3, old)
    assert proof.checkpoint.size == old.size
    assert verify_inclusion_proof(proof, _verifier(ws)).seq == 3


def test_changed_proofs_fail(ws: mlwarden.Workspace) -> None:
    proof = ws.log.prove(5)
    verifier = _verifier(ws)
    forged_entry = proof.entry.replace(b"dataset.", b"datasex.")
    assert forged_entry != proof.entry
    cases = [
        replace(proof, entry=forged_entry),
        replace(proof, seq=6),
        replace(proof, path=proof.path[:-1]),
        replace(proof, path=(bytes(32), *proof.path[1:])),
        replace(proof, checkpoint=replace(proof.checkpoint, size=proof.checkpoint.size + 1)),
        replace(proof, checkpoint=replace(proof.checkpoint, root=bytes(32))),
        replace(proof, checkpoint=replace(proof.checkpoint, note=proof.checkpoint.note.replace("\n", "\n\n", 1))),
    ]
    for case in cases:
        with pytest.raises(IntegrityError):
            verify_inclusion_proof(case, verifier)
    other = NoteSigner.from_seed(ws.origin, os.urandom(32)).verifier
    with pytest.raises(IntegrityError):
        verify_inclusion_proof(proof, other)


def test_no_proof_from_a_log_that_does_not_verify(ws: mlwarden.Workspace) -> None:
    import sqlite3

    (seq,) = [e.seq for e in ws._audit.entries() if e.resource == "dataset:d1" and e.outcome == "allowed"][:1]
    conn = sqlite3.connect(ws.home / "access.db")
    (entry,) = conn.execute("SELECT entry FROM audit_entries WHERE seq = ?", (seq,)).fetchone()
    conn.execute("UPDATE audit_entries SET entry = ? WHERE seq = ?", (entry.replace(b"dataset:d1", b"dataset:d9"), seq))
    conn.commit()
    conn.close()
    with pytest.raises(IntegrityError, match=f"entry {seq} was changed"):
        ws._audit.inclusion(seq)
    with pytest.raises(BadInput):
        ws._audit.inclusion(10_000)


def test_proof_json_is_checked(ws: mlwarden.Workspace) -> None:
    doc = ws.log.prove(2).to_json()
    for broken in (
        {**doc, "format": "other"},
        {**doc, "path": ["zz"]},
        {**doc, "path": ["00"]},
        {**doc, "seq": "2"},
        {k: v for k, v in doc.items() if k != "checkpoint"},
    ):
        with pytest.raises(BadInput):
            InclusionProof.from_json(broken)


def test_cli_prove_and_verify_proof_without_the_workspace(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
    env.update(MLWARDEN_HOME=str(tmp_path / "ws"), MLWARDEN_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())

    def run(*args: str, environ: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlwarden", *args], env=environ, cwd=tmp_path, capture_output=True, text=True
        )

    assert run("init").returncode == 0
    assert run("user", "add", "bob", "--role", "auditor").returncode == 0
    assert run("log", "checkpoint", "-o", "head.json").returncode == 0
    proved = run("log", "prove", "1", "--checkpoint", "head.json", "-o", "p.json")
    assert proved.returncode == 0, proved.stderr
    # Checked by someone with no workspace at all: no MLWARDEN_* variable, no home.
    outsider = {k: v for k, v in env.items() if not k.startswith("MLWARDEN_")}
    ok = run("log", "verify-proof", "p.json", "--key", "head.json", environ=outsider)
    assert ok.returncode == 0, ok.stderr
    assert "proof holds: entry 1" in ok.stdout
    key = json.loads((tmp_path / "head.json").read_text())["verifier_key"]
    as_json = run("log", "verify-proof", "p.json", "--key", key, "--json", environ=outsider)
    assert json.loads(as_json.stdout)["entry"]["action"] == "user.manage"
    doc = json.loads((tmp_path / "p.json").read_text())
    doc["entry"] = doc["entry"].replace("admin", "client")
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    bad = run("log", "verify-proof", "bad.json", "--key", key, environ=outsider)
    assert bad.returncode == 3
    assert len(bad.stderr.strip().splitlines()) == 1
    assert run("log", "verify-proof", "p.json", "--key", "nonsense", environ=outsider).returncode == 2
    assert run("log", "verify-proof", "missing.json", "--key", key, environ=outsider).returncode == 2
    assert run("log", "prove", "999", "-o", "x.json").returncode == 2
