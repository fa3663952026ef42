"""The dataset store through its Python API: round trips, dedup, tags, tombstones, tampering, orphans."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import update

import mlwarden
from mlwarden.catalog._tables import dataset_versions
from mlwarden.config import Settings
from mlwarden.errors import BadInput, IntegrityError, NotFound, Shredded
from mlwarden.usecases import GERMAN_CREDIT_SHA256, german_credit_csv


@pytest.fixture(params=["sqlite", "postgresql"])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> mlwarden.Workspace:
    """A workspace with its catalog in SQLite (the default) or on a real PostgreSQL server."""
    url = request.getfixturevalue("postgres").new_database() if request.param == "postgresql" else None
    settings = Settings(home=tmp_path / "ws", master_key=base64.b64encode(os.urandom(32)).decode(), catalog_url=url)
    admin = mlwarden.Workspace.init(settings=settings, key_source="env")
    _, token = admin.users.add("alice", "admin")
    admin.close()
    workspace = mlwarden.Workspace.open(settings=settings, token=token)
    yield workspace
    workspace.close()


def _objects(ws: mlwarden.Workspace) -> list[Path]:
    return sorted(p for p in (ws.home / "objects").rglob("*") if p.is_file())


def test_german_credit_round_trips_with_its_schema(ws: mlwarden.Workspace) -> None:
    path = german_credit_csv()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == GERMAN_CREDIT_SHA256
    put = ws.datasets.put(path, name="credit-german", tags={"source": "uci"})
    v = put.version
    assert put.created
    assert v.ref == "credit-german@1"
    assert (v.sha256, v.size, v.rows, v.format) == (GERMAN_CREDIT_SHA256, path.stat().st_size, 1000, "csv")
    assert v.schema.columns is not None
    assert len(v.schema.columns) == 21
    types = {c.name: c.type for c in v.schema.columns}
    assert types["duration_in_month"] == "int64"
    assert types["creditability"] == "string"
    assert (v.created_by, v.key_version, dict(v.tags)) == ("alice", 1, {"source": "uci"})
    assert ws.datasets.read_bytes("credit-german") == path.read_bytes()
    with ws.datasets.open("credit-german", 1) as f:
        assert f.read() == path.read_bytes()
    frame = ws.datasets.read_frame("credit-german")
    assert frame.shape == (1000, 21)
    assert frame["credit_amount"].sum() == pd.read_csv(path)["credit_amount"].sum()
    # The stored object holds no plaintext.
    (stored,) = _objects(ws)
    assert b"creditability" not in stored.read_bytes()
    assert oct(stored.stat().st_mode & 0o777) == "0o600"


def test_sources_bytes_streams_and_frames(ws: mlwarden.Workspace, tmp_path: Path) -> None:
    v = ws.datasets.put(b"a,b\n1,x\n2,y\n", name="small", format="csv").version
    assert (v.rows, v.format) == (2, "csv")
    v2 = ws.datasets.put(io.BytesIO(b"\x00\x01binary"), name="blob").version
    assert (v2.format, v2.rows, v2.schema.columns) == ("binary", None, None)
    frame = pd.DataFrame({"age": [30, 41, 52], "score": [0.5, 0.25, 0.125], "label": ["a", "b", "c"]})
    v3 = ws.datasets.put(frame, name="frame").version
    assert (v3.format, v3.rows) == ("parquet", 3)
    assert [c.name for c in v3.schema.columns or ()][:3] == ["age", "score", "label"]
    pd.testing.assert_frame_equal(ws.datasets.read_frame("frame"), frame)
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"id": 1, "ok": true}\n{"id": 2, "ok": false}\n')
    v4 = ws.datasets.put(lines, name="events").version
    assert (v4.format, v4.rows) == ("jsonl", 2)
    assert list(ws.datasets.read_frame("events")["id"]) == [1, 2]
    with pytest.raises(BadInput, match="not tabular"):
        ws.datasets.read_frame("blob")
    assert ws.datasets.read_bytes("blob") == b"\x00\x01binary"


class Trickle(io.RawIOBase):
    """``data`` a few bytes per read, as a slow pipe gives it."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__()
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._step, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def test_a_table_without_a_name_is_told_by_its_content(ws: mlwarden.Workspace, tmp_path: Path) -> None:
    table = b"id,score\n" + b"".join(b"%d,%d.5\n" % (i, i) for i in range(20_000))
    for step in (7, 1 << 20):  # the guess does not depend on how the reads come
        v = ws.datasets.put(Trickle(table, step), name=f"t{step}").version
        assert (v.format, v.rows) == ("csv", 20_000)
        assert [(c.name, c.type) for c in v.schema.columns or ()] == [("id", "int64"), ("score", "double")]
    assert ws.datasets.put(b'{"a": 1}\n{"a": 2}\n', name="events").version.format == "jsonl"
    (tmp_path / "export").write_bytes(table)
    assert ws.datasets.put(tmp_path / "export", name="export").version.format == "csv"
    (tmp_path / "export.txt").write_bytes(table)
    assert ws.datasets.put(tmp_path / "export.txt", name="text").version.format == "binary"
    assert ws.datasets.put(os.urandom(100_000), name="noise").version.format == "binary"


def test_empty_dataset(ws: mlwarden.Workspace) -> None:
    v = ws.datasets.put(b"", name="empty").version
    assert (v.size, v.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert ws.datasets.read_bytes("empty") == b""


def test_identical_content_makes_no_version_unless_forced(ws: mlwarden.Workspace) -> None:
    first = ws.datasets.put(b"x,y\n1,2\n", name="d", format="csv")
    again = ws.datasets.put(b"x,y\n1,2\n", name="d", format="csv")
    assert not again.created
    assert again.version.version == 1
    assert len(_objects(ws)) == 1  # the duplicate's object was discarded
    forced = ws.datasets.put(b"x,y\n1,2\n", name="d", format="csv", force=True)
    assert forced.created
    assert forced.version.version == 2
    changed = ws.datasets.put(b"x,y\n1,3\n", name="d", format="csv")
    assert changed.version.version == 3
    assert first.version.sha256 == forced.version.sha256 != changed.version.sha256
    assert [v.version for v in ws.datasets.versions("d")] == [1, 2, 3]
    summary = {d.name: d for d in ws.datasets.list()}["d"]
    assert summary.versions == 3
    assert summary.latest is not None
    assert summary.latest.version == 3


def test_bad_input(ws: mlwarden.Workspace, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        ws.datasets.put(tmp_path / "missing.csv", name="d")
    with pytest.raises(BadInput, match="folder"):
        ws.datasets.put(tmp_path, name="d")
    for name in ["../etc", "a/b", "x\x00", "line\nbreak", ""]:
        with pytest.raises(BadInput, match="dataset name"):
            ws.datasets.put(b"data", name=name)
    with pytest.raises(BadInput, match="cannot store"):
        ws.datasets.put(12345, name="d")
    with pytest.raises(BadInput, match="format"):
        ws.datasets.put(b"x", name="d", format="xlsx")
    with pytest.raises(BadInput, match="tag"):
        ws.datasets.put(b"x", name="d", tags={"bad key": "v"})
    with pytest.raises(NotFound, match="no dataset named 'nope'"):
        ws.datasets.read_bytes("nope")
    ws.datasets.put(b"x", name="d")
    with pytest.raises(NotFound, match="has no version 5"):
        ws.datasets.open("d", 5)
    assert _objects(ws)
    assert len(_objects(ws)) == 1


def test_unparseable_csv_is_stored_with_unknown_schema(ws: mlwarden.Workspace) -> None:
    ragged = b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n"
    v = ws.datasets.put(ragged, name="ragged", format="csv").version
    assert v.schema.columns is None
    assert v.rows is None
    assert v.schema.error
    assert ws.datasets.read_bytes("ragged") == ragged


def test_shredding_leaves_a_tombstone(ws: mlwarden.Workspace) -> None:
    ws.datasets.put(b"v1", name="d")
    ws.datasets.put(b"v2", name="d")
    gone = ws.datasets.shred("d", 1)
    assert gone.shredded
    assert gone.shredded_by == "alice"
    assert gone.sha256 == hashlib.sha256(b"v1").hexdigest()
    with pytest.raises(Shredded, match="d@1 was shredded"):
        ws.datasets.read_bytes("d", 1)
    with pytest.raises(Shredded):
        ws.datasets.open("d", 1)
    with pytest.raises(Shredded, match="already shredded"):
        ws.datasets.shred("d", 1)
    assert ws.datasets.read_bytes("d") == b"v2"  # the latest live version
    assert ws.datasets.info("d", 1).shredded
    assert len(_objects(ws)) == 1  # the shredded object is deleted too
    record = ws._data_keys.record(bytes.fromhex(gone.object_id))
    assert record.shredded is not None
    assert record.shredded_by == "alice"
    report = ws.datasets.check()
    assert report.ok
    assert report.versions == 1
    assert report.shredded == 1


def test_a_copy_of_a_shredded_object_stays_unreadable(ws: mlwarden.Workspace, tmp_path: Path) -> None:
    v = ws.datasets.put(b"secret rows", name="d").version
    (obj,) = _objects(ws)
    copy = obj.read_bytes()
    ws.datasets.shred("d", 1)
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(copy)  # an attacker restores the object from a backup
    with pytest.raises(Shredded):
        ws.datasets.read_bytes("d", v.version)


def _drain(f: io.BufferedReader) -> None:
    while f.read(1 << 16):
        pass


def _read_until_failure(f: io.BufferedReader) -> None:
    with pytest.raises(IntegrityError, match="big@1"):
        _drain(f)


def test_tampered_objects_fail_naming_the_version(ws: mlwarden.Workspace) -> None:
    data = os.urandom(3 * 1024 * 1024)
    ws.datasets.put(data, name="big")
    (obj,) = _objects(ws)
    original = obj.read_bytes()
    for offset in (0, 40, 1 << 20, len(original) - 1):
        damaged = bytearray(original)
        damaged[offset] ^= 0x80
        obj.write_bytes(bytes(damaged))
        with pytest.raises(IntegrityError, match="big@1 failed authentication"):
            ws.datasets.read_bytes("big")
        with ws.datasets.open("big") as f:
            _read_until_failure(f)
    obj.write_bytes(original[: 1 << 20])  # truncated at a segment boundary
    with pytest.raises(IntegrityError, match="big@1"):
        ws.datasets.read_bytes("big")
    report = ws.datasets.check()
    assert not report.ok
    assert report.problems[0].ref == "big@1"
    obj.unlink()
    with pytest.raises(IntegrityError, match="missing from the store"):
        ws.datasets.read_bytes("big")
    obj.write_bytes(original)
    assert ws.datasets.check().ok


def test_swapped_objects_and_edited_catalog_are_caught(ws: mlwarden.Workspace) -> None:
    ws.datasets.put(b"first dataset", name="a")
    ws.datasets.put(b"second dataset", name="b")
    a, b = ws.datasets.info("a"), ws.datasets.info("b")
    objects = {p.name: p for p in _objects(ws)}
    pa, pb = objects[a.object_id], objects[b.object_id]
    da, db = pa.read_bytes(), pb.read_bytes()
    pa.write_bytes(db)  # each object is bound to its id: a swap fails authentication
    with pytest.raises(IntegrityError, match="a@1 failed authentication"):
        ws.datasets.read_bytes("a")
    pa.write_bytes(da)
    # Point a@1 at b's object in the catalog itself: decrypts, but the SHA-256 gives it away.
    table = dataset_versions
    with ws._open_catalog()._engine.begin() as conn:
        conn.execute(update(table).where(table.c.object_id == b.object_id).values(object_id="f" * 32))
        conn.execute(update(table).where(table.c.object_id == a.object_id).values(object_id=b.object_id))
    with pytest.raises(IntegrityError, match="a@1 does not match the catalog"):
        ws.datasets.read_bytes("a")
    report = ws.datasets.check()
    assert {p.ref for p in report.problems} == {"a@1", "b@1"}


def test_orphans_are_reported_and_collected(ws: mlwarden.Workspace) -> None:
    ws.datasets.put(b"kept", name="d")
    # An interrupted put: the object and its key were written, the catalog never committed.
    object_id = os.urandom(16)
    data_key = os.urandom(32)
    from mlwarden.crypto._envelope import seal_object

    with ws.datasets._backend.create(object_id.hex()) as out:
        seal_object(data_key, object_id, io.BytesIO(b"orphan"), out)
    ws._data_keys.create_wrapped(object_id, data_key)
    report = ws.datasets.check()
    assert report.ok
    assert report.orphans == (object_id.hex(),)
    assert ws.datasets.collect_garbage() == [object_id.hex()]
    assert ws._data_keys.record(object_id).shredded is not None
    assert ws.datasets.check().orphans == ()
    assert ws.datasets.read_bytes("d") == b"kept"


def test_rotation_keeps_every_version_readable(ws: mlwarden.Workspace) -> None:
    for i in range(5):
        ws.datasets.put(f"version {i}".encode(), name="d")
    ws.keys.rotate()
    assert [k.data_keys for k in ws.keys.versions()] == [0, 5]
    ws.keys.destroy_version(1)
    assert [ws.datasets.read_bytes("d", i + 1) for i in range(5)] == [f"version {i}".encode() for i in range(5)]
    assert ws.datasets.put(b"after", name="d").version.key_version == 2


def test_import_fernet(ws: mlwarden.Workspace) -> None:
    key = Fernet.generate_key()
    token = Fernet(key).encrypt(b"id,score\n1,0.5\n")
    from mlwarden.crypto._fernet import parse_fernet_key

    put = ws.datasets.import_fernet(
        io.BytesIO(token + b"\n"), parse_fernet_key(key), name="legacy", origin="scores.csv.enc"
    )
    v = put.version
    assert ws.datasets.read_bytes("legacy") == b"id,score\n1,0.5\n"
    assert v.tags["origin"] == "fernet"
    assert v.tags["origin.file"] == "scores.csv.enc"
    assert v.tags["origin.fernet_timestamp"].endswith("Z")
    assert v.rows == 1
    wrong = parse_fernet_key(Fernet.generate_key())
    with pytest.raises(IntegrityError, match="Fernet token"):
        ws.datasets.import_fernet(io.BytesIO(token), wrong, name="legacy2", origin="x.enc")
    damaged = bytearray(token)
    damaged[60] = ord("A") if damaged[60] != ord("A") else ord("B")
    with pytest.raises(IntegrityError, match="Fernet token"):
        ws.datasets.import_fernet(io.BytesIO(bytes(damaged)), parse_fernet_key(key), name="legacy2", origin="x")
    assert [d.name for d in ws.datasets.list()] == ["legacy"]
    assert len(_objects(ws)) == 1  # the failed imports committed nothing


def test_open_streams_in_small_reads(ws: mlwarden.Workspace) -> None:
    data = os.urandom((1 << 20) * 2 + 12345)
    ws.datasets.put(data, name="d")
    with ws.datasets.open("d") as f:
        parts = []
        while chunk := f.read(7777):
            parts.append(chunk)
    assert b"".join(parts) == data


def test_read_frame_uses_the_whole_file_types(ws: mlwarden.Workspace) -> None:
    body = "".join(f"{i},{i * 0.5}\n" for i in range(300_000))
    data = ("id,score\n" + body + "x,1.5\n").encode()  # far past pyarrow's first block
    v = ws.datasets.put(data, name="late-string", format="csv").version
    assert {c.name: c.type for c in v.schema.columns or ()} == {"id": "string", "score": "double"}
    assert v.rows == 300_001
    frame = ws.datasets.read_frame("late-string")
    assert frame.shape == (300_001, 2)
    assert frame["id"].iloc[-1] == "x"
    assert frame["id"].iloc[0] == "0"


def test_records_show_the_key_version_wrapping_the_data_key_now(ws: mlwarden.Workspace) -> None:
    ws.datasets.put(b"rows", name="d")
    ws.keys.rotate()
    assert ws.datasets.info("d").key_version == 2
    assert ws.datasets.versions("d")[0].key_version == 2
    (summary,) = ws.datasets.list()
    assert summary.latest is not None
    assert summary.latest.key_version == 2
    assert ws.datasets.put(b"rows", name="d").version.key_version == 2  # unchanged: the same record


def test_import_fernet_reserves_its_origin_tags(ws: mlwarden.Workspace) -> None:
    from mlwarden.crypto._fernet import parse_fernet_key

    key = Fernet.generate_key()
    token = io.BytesIO(Fernet(key).encrypt(b"x"))
    for tag in ("origin", "origin.file"):
        with pytest.raises(BadInput, match="set by the import"):
            ws.datasets.import_fernet(token, parse_fernet_key(key), name="d", origin="f", tags={tag: "mine"})


def test_a_parse_error_far_into_a_csv_does_not_hang_the_put(tmp_path: Path) -> None:
    # Regression: the parser thread failed on a row ~35 MiB in while pyarrow's reader thread was
    # held back and the put was blocked feeding a full channel; destroying the reader waited for
    # its thread before the channel was cancelled, so all three waited for ever.
    script = """
import base64, os, sys
from pathlib import Path
from mlwarden import Workspace
from mlwarden.config import Settings
st = Settings(home=Path(sys.argv[1]), master_key=base64.b64encode(os.urandom(32)).decode())
Workspace.init(settings=st, key_source="env")
ws = Workspace.open(settings=st)
good = b"".join(b"%d,%d,x%d\\n" % (i, i * 7, i) for i in range(1_500_000))
v = ws.datasets.put(b"a,b,c\\n" + good + b"1,2\\n" + good, name="late-ragged", format="csv").version
print(v.schema.error)
assert ws.datasets.read_bytes("late-ragged").endswith(good[-100:])
"""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ws")], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "CSV row 1,500,002 (the header is row 1) has 2 fields where the header has 3" in done.stdout
