"""End-to-end tests of ``mlwarden init``, ``encrypt`` and ``decrypt`` (real subprocesses)."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from special_files import fifo_reader, pty_device

MIB = 1024 * 1024
MAGIC = b"MLWENC"
HEADER_SIZE = 106  # docs of mlwarden.crypto._envelope
PASSPHRASE = "correct horse battery staple"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


# --------------------------------------------------------------------------------------------
# init
# --------------------------------------------------------------------------------------------


class TestInit:
    def test_creates_private_workspace_and_prints_its_id(self, cli, tmp_path, show):
        proc = cli.run("init")
        assert proc.returncode == 0, show(proc)
        home = tmp_path / "ws"
        meta = json.loads((home / "workspace.json").read_text())
        assert meta["format"] == "mlwarden-workspace"
        assert len(meta["id"]) == 32
        int(meta["id"], 16)
        out = proc.stdout.decode()
        assert meta["id"][:12] in out
        assert str(home) in out
        assert "env" in out
        assert mode_of(home) == 0o700
        assert mode_of(home / "keys") == 0o700
        assert mode_of(home / "keys" / "keyring.json") == 0o600
        assert mode_of(home / "workspace.json") == 0o600
        keyring = json.loads((home / "keys" / "keyring.json").read_text())
        assert keyring["workspace_id"] == meta["id"]
        assert keyring["primary"] == 1
        assert keyring["master"]["kind"] == "env"

    def test_home_root_option(self, bare_cli, tmp_path, make_key, show):
        key = make_key()
        home = tmp_path / "via-option"
        proc = bare_cli.run("--home", home, "init", env={"MLWARDEN_MASTER_KEY": key})
        assert proc.returncode == 0, show(proc)
        assert (home / "workspace.json").is_file()
        assert not (tmp_path / ".mlwarden").exists()
        proc = bare_cli.run("--home", home, "keys", "ls", env={"MLWARDEN_MASTER_KEY": key})
        assert proc.returncode == 0, show(proc)

    def test_mlwarden_home_env(self, bare_cli, tmp_path, make_key, show):
        key = make_key()
        home = tmp_path / "via-env"
        env = {"MLWARDEN_MASTER_KEY": key, "MLWARDEN_HOME": str(home)}
        proc = bare_cli.run("init", env=env)
        assert proc.returncode == 0, show(proc)
        assert (home / "workspace.json").is_file()
        assert not (tmp_path / ".mlwarden").exists()
        assert bare_cli.run("keys", "ls", env=env).returncode == 0

    def test_home_option_wins_over_env(self, bare_cli, tmp_path, make_key, show):
        key = make_key()
        env = {"MLWARDEN_MASTER_KEY": key, "MLWARDEN_HOME": str(tmp_path / "from-env")}
        proc = bare_cli.run("--home", tmp_path / "from-option", "init", env=env)
        assert proc.returncode == 0, show(proc)
        assert (tmp_path / "from-option" / "workspace.json").is_file()
        assert not (tmp_path / "from-env").exists()

    def test_default_home_is_dot_mlwarden_in_cwd(self, bare_cli, tmp_path, make_key, show):
        proc = bare_cli.run("init", env={"MLWARDEN_MASTER_KEY": make_key()})
        assert proc.returncode == 0, show(proc)
        assert (tmp_path / ".mlwarden" / "workspace.json").is_file()

    def test_second_init_refused(self, workspace, check_error):
        before = {p: p.read_bytes() for p in workspace.home.rglob("*") if p.is_file()}
        check_error(workspace.run("init"), 2, "already exists")
        after = {p: p.read_bytes() for p in workspace.home.rglob("*") if p.is_file()}
        assert after == before

    def test_non_empty_folder_refused(self, cli, tmp_path, check_error):
        home = tmp_path / "ws"
        home.mkdir()
        (home / "notes.txt").write_text("mine")
        check_error(cli.run("init"), 2, "not an empty folder")
        assert listing(home) == ["notes.txt"]
        assert (home / "notes.txt").read_text() == "mine"

    def test_home_is_a_file_refused(self, cli, tmp_path, check_error):
        (tmp_path / "ws").write_text("a file")
        check_error(cli.run("init"), 2)
        assert (tmp_path / "ws").read_text() == "a file"

    def test_empty_existing_folder_accepted(self, cli, tmp_path, show):
        (tmp_path / "ws").mkdir()
        proc = cli.run("init")
        assert proc.returncode == 0, show(proc)
        assert mode_of(tmp_path / "ws") == 0o700

    def test_json(self, cli, tmp_path, show):
        proc = cli.run("init", "--json")
        assert proc.returncode == 0, show(proc)
        data = json.loads(proc.stdout)
        meta = json.loads((tmp_path / "ws" / "workspace.json").read_text())
        assert data["id"] == meta["id"]
        assert data["key_source"] == "env"
        assert data["key_version"] == 1
        assert Path(data["home"]) == tmp_path / "ws"

    def test_key_source_env_without_master_key(self, cli, tmp_path, check_error):
        proc = cli.run("init", "--key-source", "env", env={"MLWARDEN_MASTER_KEY": None})
        check_error(proc, 2, "MLWARDEN_MASTER_KEY")
        assert not (tmp_path / "ws" / "workspace.json").exists()

    @pytest.mark.parametrize(
        "value",
        ["not base64 at all!", "QUJD", "c2hvcnQ=", "%%%%" * 11],
        ids=["garbage", "3-bytes", "short", "symbols"],
    )
    def test_bad_master_key(self, cli, tmp_path, check_error, value):
        line = check_error(cli.run("init", env={"MLWARDEN_MASTER_KEY": value}), 2, "MLWARDEN_MASTER_KEY")
        assert value not in line
        assert not (tmp_path / "ws" / "workspace.json").exists()

    def test_bad_master_key_on_open(self, workspace, check_error):
        proc = workspace.cli.run("keys", "ls", env={"MLWARDEN_MASTER_KEY": "!!not-base64!!"})
        check_error(proc, 2, "MLWARDEN_MASTER_KEY")

    def test_different_master_key(self, workspace, make_key, check_error):
        proc = workspace.cli.run("keys", "ls", env={"MLWARDEN_MASTER_KEY": make_key()})
        check_error(proc, 3, "MLWARDEN_MASTER_KEY")

    def test_missing_master_key_on_open(self, workspace, check_error):
        proc = workspace.cli.run("keys", "ls", env={"MLWARDEN_MASTER_KEY": None})
        check_error(proc, 2, "MLWARDEN_MASTER_KEY")

    @pytest.mark.parametrize("cause", ["no-master-key", "bad-master-key", "no-passphrase"])
    def test_failed_init_can_be_retried(self, cli, tmp_path, master_key, show, cause):
        env: dict[str, str | None] = {
            "no-master-key": {"MLWARDEN_MASTER_KEY": None},
            "bad-master-key": {"MLWARDEN_MASTER_KEY": "bad!"},
            "no-passphrase": {"MLWARDEN_MASTER_KEY": None},
        }[cause]
        args = ["init", "--key-source", "env"] if cause == "no-master-key" else ["init"]
        first = cli.run(*args, env=env)
        assert first.returncode == 2, show(first)
        home = tmp_path / "ws"
        assert not home.exists() or listing(home) == [], f"left behind: {list(home.rglob('*'))}"
        retry = cli.run("init")
        assert retry.returncode == 0, show(retry)


class TestPassphrase:
    def test_init_and_use_with_passphrase(self, cli, tmp_path, write_file, show):
        pw = cli.with_env(MLWARDEN_MASTER_KEY=None, MLWARDEN_PASSPHRASE=PASSPHRASE)
        proc = pw.run("init", "--json")
        assert proc.returncode == 0, show(proc)
        assert json.loads(proc.stdout)["key_source"] == "passphrase"
        keyring = json.loads((tmp_path / "ws" / "keys" / "keyring.json").read_text())
        assert keyring["master"]["kind"] == "passphrase"
        assert PASSPHRASE not in json.dumps(keyring)
        data = os.urandom(5000)
        src = write_file("plain.bin", data)
        assert pw.run("encrypt", src, "-o", "c.mlw").returncode == 0
        proc = pw.run("decrypt", "c.mlw", "-o", "back.bin")
        assert proc.returncode == 0, show(proc)
        assert (tmp_path / "back.bin").read_bytes() == data

    def test_wrong_passphrase(self, cli, check_error, show):
        pw = cli.with_env(MLWARDEN_MASTER_KEY=None, MLWARDEN_PASSPHRASE=PASSPHRASE)
        assert pw.run("init").returncode == 0
        line = check_error(pw.run("keys", "ls", env={"MLWARDEN_PASSPHRASE": "wrong"}), 3, "wrong passphrase")
        assert PASSPHRASE not in line

    def test_no_passphrase_and_no_tty(self, cli, check_error):
        pw = cli.with_env(MLWARDEN_MASTER_KEY=None, MLWARDEN_PASSPHRASE=PASSPHRASE)
        assert pw.run("init").returncode == 0
        nopw = pw.with_env(MLWARDEN_PASSPHRASE=None)
        check_error(nopw.run("keys", "ls"), 2, "MLWARDEN_PASSPHRASE")
        # stdin a pipe with text in it is not a terminal either: nothing is read from it.
        check_error(nopw.run("keys", "ls", input=PASSPHRASE.encode() + b"\n"), 2, "MLWARDEN_PASSPHRASE")
        # The master key of some other workspace does not stand in for the passphrase.
        check_error(nopw.run("keys", "ls", env={"MLWARDEN_MASTER_KEY": "A" * 43 + "="}), 2, "MLWARDEN_PASSPHRASE")

    def test_init_without_passphrase_or_tty(self, cli, tmp_path, check_error):
        proc = cli.run("init", env={"MLWARDEN_MASTER_KEY": None})
        check_error(proc, 2, "MLWARDEN_PASSPHRASE")
        assert not (tmp_path / "ws" / "workspace.json").exists()

    def test_key_source_passphrase_chosen_explicitly(self, cli, show):
        both = cli.with_env(MLWARDEN_PASSPHRASE=PASSPHRASE)
        proc = both.run("init", "--key-source", "passphrase", "--json")
        assert proc.returncode == 0, show(proc)
        assert json.loads(proc.stdout)["key_source"] == "passphrase"
        assert both.run("keys", "ls").returncode == 0


# --------------------------------------------------------------------------------------------
# encrypt / decrypt
# --------------------------------------------------------------------------------------------

SIZES = [0, 1, 3 * MIB + 7]


@pytest.fixture(scope="module")
def payloads() -> dict[int, bytes]:
    return {size: os.urandom(size) for size in SIZES}


@pytest.mark.parametrize("size", SIZES, ids=["0B", "1B", "3MiB+7"])
@pytest.mark.parametrize("via", ["files", "pipes", "file-to-stdout", "stdin-to-file"])
def test_round_trip(workspace, tmp_path, payloads, show, size, via):
    data = payloads[size]
    plain = tmp_path / "plain.bin"
    plain.write_bytes(data)
    if via in ("files", "file-to-stdout"):
        enc = workspace.run("encrypt", plain, "-o", "c.mlw")
    else:
        enc = workspace.run("encrypt", "-", "-o", "-", input=data)
        assert enc.returncode == 0, show(enc)
        (tmp_path / "c.mlw").write_bytes(enc.stdout)
    assert enc.returncode == 0, show(enc)
    cipher = (tmp_path / "c.mlw").read_bytes()
    assert cipher.startswith(MAGIC)
    assert len(cipher) > HEADER_SIZE + size
    if size > 64:
        assert data[:64] not in cipher

    if via == "files":
        dec = workspace.run("decrypt", "c.mlw", "-o", "back.bin")
    elif via == "pipes":
        dec = workspace.run("decrypt", "-", "-o", "-", input=cipher)
    elif via == "file-to-stdout":
        dec = workspace.run("decrypt", "c.mlw", "-o", "-")
    else:
        dec = workspace.run("decrypt", "-", "-o", "back.bin", input=cipher)
    assert dec.returncode == 0, show(dec)
    if via in ("pipes", "file-to-stdout"):
        assert dec.stdout == data
    else:
        assert dec.stdout == b""
        back = tmp_path / "back.bin"
        assert back.read_bytes() == data
        assert mode_of(back) == 0o600
    # Success messages go to stderr, and a single one per command.
    assert len(dec.stderr.decode().splitlines()) == 1, show(dec)
    assert "Traceback" not in dec.stderr.decode() + enc.stderr.decode()


def test_two_encryptions_differ(workspace, write_file):
    src = write_file("p", b"same plaintext")
    workspace.ok("encrypt", src, "-o", "a.mlw")
    workspace.ok("encrypt", src, "-o", "b.mlw")
    assert (src.parent / "a.mlw").read_bytes() != (src.parent / "b.mlw").read_bytes()


def test_decrypted_file_is_0600_even_over_a_public_file(workspace, tmp_path, write_file):
    src = write_file("p", b"secret")
    workspace.ok("encrypt", src, "-o", "c.mlw")
    out = write_file("out", b"old")
    out.chmod(0o644)
    workspace.ok("decrypt", "c.mlw", "-o", out, "--force")
    assert out.read_bytes() == b"secret"
    assert mode_of(out) == 0o600


class TestOutputRules:
    @pytest.mark.parametrize("command", ["encrypt", "decrypt"])
    def test_existing_out_needs_force(self, workspace, tmp_path, write_file, check_error, command):
        src = write_file("p", b"payload")
        if command == "decrypt":
            workspace.ok("encrypt", src, "-o", "c.mlw")
            src = tmp_path / "c.mlw"
        out = write_file("out", b"precious")
        check_error(workspace.run(command, src, "-o", out), 2, "--force")
        assert out.read_bytes() == b"precious"
        workspace.ok(command, src, "-o", out, "--force")
        assert out.read_bytes() != b"precious"
        if command == "decrypt":
            assert out.read_bytes() == b"payload"
        assert listing(tmp_path) == sorted(["p", "out", *(["c.mlw"] if command == "decrypt" else []), "ws"])

    @pytest.mark.parametrize("command", ["encrypt", "decrypt"])
    @pytest.mark.parametrize("spelling", ["same", "dotted", "force"])
    def test_out_same_as_in(self, workspace, tmp_path, write_file, check_error, command, spelling):
        src = write_file("p", b"payload")
        if command == "decrypt":
            workspace.ok("encrypt", src, "-o", "c.mlw")
            src = tmp_path / "c.mlw"
        before = src.read_bytes()
        out = {"same": str(src), "dotted": f"./{src.name}", "force": str(src)}[spelling]
        extra = ["--force"] if spelling == "force" else []
        check_error(workspace.run(command, src.name, "-o", out, *extra), 2, "same file")
        assert src.read_bytes() == before

    @pytest.mark.parametrize("command", ["encrypt", "decrypt"])
    def test_missing_in(self, workspace, tmp_path, check_error, command):
        check_error(workspace.run(command, "nope.bin", "-o", "out"), 2, "nope.bin")
        assert not (tmp_path / "out").exists()

    @pytest.mark.parametrize("command", ["encrypt", "decrypt"])
    def test_in_is_a_directory(self, workspace, tmp_path, check_error, command):
        (tmp_path / "adir").mkdir()
        check_error(workspace.run(command, "adir", "-o", "out"), 2, "folder")
        assert not (tmp_path / "out").exists()

    @pytest.mark.parametrize("command", ["encrypt", "decrypt"])
    def test_out_is_a_directory(self, workspace, tmp_path, write_file, check_error, command):
        src = write_file("p", b"payload")
        if command == "decrypt":
            workspace.ok("encrypt", src, "-o", "c.mlw")
            src = tmp_path / "c.mlw"
        (tmp_path / "adir").mkdir()
        check_error(workspace.run(command, src, "-o", "adir", "--force"), 2, "folder")
        assert listing(tmp_path / "adir") == []

    @pytest.mark.parametrize("command", ["encrypt", "decrypt"])
    def test_output_folder_missing(self, workspace, tmp_path, write_file, check_error, command):
        src = write_file("p", b"payload")
        if command == "decrypt":
            workspace.ok("encrypt", src, "-o", "c.mlw")
            src = tmp_path / "c.mlw"
        check_error(workspace.run(command, src, "-o", tmp_path / "missing" / "out"), 2, "does not exist")
        assert not (tmp_path / "missing").exists()

    def test_output_parent_is_a_file(self, workspace, write_file, check_error):
        src = write_file("p", b"payload")
        check_error(workspace.run("encrypt", src, "-o", f"{src}/out"), 2)

    def test_no_workspace(self, cli, write_file, check_error):
        src = write_file("p", b"payload")
        check_error(cli.run("encrypt", src, "-o", "c.mlw"), 2, "mlwarden init")
        assert not (src.parent / "c.mlw").exists()


# --------------------------------------------------------------------------------------------
# tampering
# --------------------------------------------------------------------------------------------

PLAIN_SIZE = 2 * MIB + 123  # three segments; ciphertext segments end at HEADER_SIZE + k MiB


@pytest.fixture
def sealed(workspace, tmp_path):
    """(workspace, plaintext, ciphertext bytes) with the ciphertext at tmp_path/c.mlw."""
    data = os.urandom(PLAIN_SIZE)
    (tmp_path / "plain.bin").write_bytes(data)
    workspace.ok("encrypt", "plain.bin", "-o", "c.mlw")
    return workspace, data, (tmp_path / "c.mlw").read_bytes()


def flip(offset: int):
    def tamper(blob: bytes) -> bytes:
        b = bytearray(blob)
        b[offset if offset >= 0 else len(b) + offset] ^= 0x01
        return bytes(b)

    return tamper


TAMPERS = {
    # header (the 6-byte magic and the format version byte are "not ours": exit 2, tested apart)
    "hdr-flags": flip(7),
    "hdr-key-version-high": flip(8),
    "hdr-key-version-low": flip(11),
    "hdr-workspace-id": flip(12),
    "hdr-object-id": flip(28),
    "hdr-object-id-last": flip(43),
    "hdr-wrapped-len": flip(45),
    "hdr-wrapped-nonce": flip(46),
    "hdr-wrapped-key": flip(70),
    "hdr-wrapped-tag": flip(105),
    # payload
    "payload-stream-header": flip(HEADER_SIZE),
    "payload-salt": flip(HEADER_SIZE + 5),
    "payload-first-segment": flip(HEADER_SIZE + 1000),
    "payload-middle": flip(HEADER_SIZE + MIB + 77),
    "payload-last-byte": flip(-1),
    "payload-last-tag": flip(-10),
    # truncation
    "trunc-last-byte": lambda b: b[:-1],
    "trunc-last-segment": lambda b: b[: HEADER_SIZE + 2 * MIB],
    "trunc-first-segment-boundary": lambda b: b[: HEADER_SIZE + MIB],
    "trunc-to-header": lambda b: b[:HEADER_SIZE],
    "trunc-in-header": lambda b: b[:50],
    "trunc-after-magic": lambda b: b[:8],
    # appended
    "append-byte": lambda b: b + b"\x00",
    "append-segment": lambda b: b + os.urandom(MIB + 16),
    "append-copy": lambda b: b + b[HEADER_SIZE:],
}


@pytest.mark.parametrize("how", list(TAMPERS))
def test_tampered_ciphertext_rejected_and_nothing_written(sealed, tmp_path, check_error, how):
    ws, _data, cipher = sealed
    bad = TAMPERS[how](cipher)
    assert bad != cipher
    (tmp_path / "bad.mlw").write_bytes(bad)
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    check_error(ws.run("decrypt", "bad.mlw", "-o", outdir / "out.bin"), 3)
    assert listing(outdir) == [], "a partial output or a temporary file was left"


@pytest.mark.parametrize("how", ["hdr-object-id", "payload-middle", "trunc-last-segment", "append-byte"])
def test_tampered_ciphertext_keeps_existing_out(sealed, tmp_path, check_error, how):
    """With --force and a tampered IN, the old OUT survives byte for byte: no data is lost."""
    ws, _data, cipher = sealed
    (tmp_path / "bad.mlw").write_bytes(TAMPERS[how](cipher))
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    old = os.urandom(4096)
    (outdir / "out.bin").write_bytes(old)
    check_error(ws.run("decrypt", "bad.mlw", "-o", outdir / "out.bin", "--force"), 3)
    assert (outdir / "out.bin").read_bytes() == old
    assert listing(outdir) == ["out.bin"]


def test_tampered_ciphertext_on_stdin(sealed, show):
    ws, data, cipher = sealed
    proc = ws.run("decrypt", "-", "-o", "-", input=TAMPERS["payload-last-byte"](cipher))
    assert proc.returncode == 3, show(proc)
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("mlwarden: error:")
    # Only verified segments may have been written: a prefix of the plaintext, never all of it.
    assert data.startswith(proc.stdout)
    assert len(proc.stdout) < len(data)


def test_unmodified_ciphertext_still_decrypts(sealed, tmp_path):
    ws, data, _cipher = sealed
    ws.ok("decrypt", "c.mlw", "-o", "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == data


@pytest.mark.parametrize(
    "content",
    [b"", b"hello world\n", b"MLW", b"PK\x03\x04" + os.urandom(300), os.urandom(4096)],
    ids=["empty", "text", "short-magic", "zip", "random"],
)
def test_decrypt_non_mlwarden_file(workspace, tmp_path, check_error, content):
    if content[:6] == MAGIC:  # pragma: no cover - 2**-48
        pytest.skip("random bytes spelled the magic")
    (tmp_path / "other").write_bytes(content)
    check_error(workspace.run("decrypt", "other", "-o", "out"), 2, "not an mlwarden")
    assert not (tmp_path / "out").exists()


def test_decrypt_magic_flip_is_not_ours(sealed, tmp_path, check_error):
    ws, _data, cipher = sealed
    (tmp_path / "bad.mlw").write_bytes(flip(0)(cipher))
    check_error(ws.run("decrypt", "bad.mlw", "-o", "out"), 2, "not an mlwarden")
    assert not (tmp_path / "out").exists()


def test_decrypt_unknown_format_version(sealed, tmp_path, check_error):
    ws, _data, cipher = sealed
    bad = bytearray(cipher)
    bad[6] = 99
    (tmp_path / "bad.mlw").write_bytes(bytes(bad))
    check_error(ws.run("decrypt", "bad.mlw", "-o", "out"), 2, "version")
    assert not (tmp_path / "out").exists()


def test_file_from_another_workspace(workspace, tmp_path, make_key, write_file, check_error, show):
    other = workspace.cli.with_env(MLWARDEN_HOME=str(tmp_path / "other-ws"), MLWARDEN_MASTER_KEY=make_key())
    other.ok("init")
    src = write_file("p", b"belongs to the other workspace")
    other.ok("encrypt", src, "-o", "other.mlw")
    check_error(workspace.run("decrypt", "other.mlw", "-o", "out"), 3, "workspace")
    assert not (tmp_path / "out").exists()
    # Even with the same master key, a different workspace cannot open it.
    same_key = workspace.cli.with_env(MLWARDEN_HOME=str(tmp_path / "third-ws"))
    same_key.ok("init")
    check_error(same_key.run("decrypt", "other.mlw", "-o", "out"), 3)
    proc = other.run("decrypt", "other.mlw", "-o", "out")
    assert proc.returncode == 0, show(proc)
    assert (tmp_path / "out").read_bytes() == b"belongs to the other workspace"


def test_decrypt_after_two_rotations(workspace, tmp_path, show):
    blobs = {}
    for version in (1, 2, 3):
        data = os.urandom(1000 + version)
        (tmp_path / f"p{version}").write_bytes(data)
        enc = workspace.run("encrypt", f"p{version}", "-o", f"c{version}.mlw")
        assert enc.returncode == 0, show(enc)
        assert f"key version {version}" in enc.stderr.decode()
        blobs[version] = data
        if version < 3:
            workspace.ok("keys", "rotate")
    for version, data in blobs.items():
        workspace.ok("decrypt", f"c{version}.mlw", "-o", f"back{version}")
        assert (tmp_path / f"back{version}").read_bytes() == data


def test_no_temp_files_left_after_success(workspace, tmp_path, write_file):
    src = write_file("in/p", os.urandom(3000))
    (tmp_path / "out").mkdir()
    workspace.ok("encrypt", src, "-o", tmp_path / "out" / "c.mlw")
    workspace.ok("decrypt", tmp_path / "out" / "c.mlw", "-o", tmp_path / "out" / "p")
    assert listing(tmp_path / "out") == ["c.mlw", "p"]


def test_decrypt_to_closed_pipe_is_quiet(sealed, tmp_path):
    """``mlwarden decrypt x -o - | head -c 10``: the reader going away is not an error (exit 0)."""
    import subprocess
    import sys

    ws, data, _cipher = sealed
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwarden", "decrypt", "c.mlw", "-o", "-"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=ws.cli.env,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    head = proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    code = proc.wait(timeout=60)
    assert head == data[:10]
    assert b"Traceback" not in err
    assert code == 0, err


# --------------------------------------------------------------------------------------------
# outputs that are not regular files: FIFOs and devices are written into, never renamed over
# (`-o /dev/null --force` once replaced the system's /dev/null with a file of plaintext). The
# devices here are a pty's slave and FIFOs of the test's own, never a system device.
# --------------------------------------------------------------------------------------------


# command -> (args before OUT, setup run in the workspace first)
STREAM_COMMANDS = {
    "encrypt": (["encrypt", "plain.bin"], []),
    "decrypt": (["decrypt", "c.mlw"], []),
    "data-get": (["data", "get", "d"], [["data", "put", "plain.bin", "--name", "d"]]),
    "log-checkpoint": (["log", "checkpoint"], []),
    "log-prove": (["log", "prove", "0"], []),
    "model-public-key": (["model", "public-key"], []),
    "model-sign": (["model", "sign", "plain.bin"], []),
}


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("command", list(STREAM_COMMANDS))
def test_every_output_streams_into_a_fifo(sealed, tmp_path, show, command, force):
    ws, data, cipher = sealed
    args, setup = STREAM_COMMANDS[command]
    for step in setup:
        ws.ok(*step)
    with fifo_reader(tmp_path / "fifo") as got:
        proc = ws.run(*args, "-o", "fifo", *(["--force"] if force else []))
    assert proc.returncode == 0, show(proc)
    assert len(got) == 1
    if command in ("decrypt", "data-get"):
        assert got[0] == data
    elif command == "encrypt":
        assert got[0].startswith(MAGIC)
        assert len(got[0]) == len(cipher)
    elif command == "model-public-key":
        assert got[0].startswith(b"-----BEGIN PUBLIC KEY-----")
    else:
        assert got[0].startswith(b"{")
        json.loads(got[0])


@pytest.mark.parametrize("command", ["decrypt", "data-get", "model-public-key"])
def test_a_character_device_is_written_into_and_stays_a_device(sealed, tmp_path, show, command):
    """A pty's slave stands for /dev/null or a terminal: same kind of file, our own."""
    ws, data, _cipher = sealed
    args, setup = STREAM_COMMANDS[command]
    for step in setup:
        ws.ok(*step)
    with pty_device() as (device, chunks):
        before = device.stat()
        proc = ws.run(*args, "-o", device, "--force")
    got = b"".join(chunks)
    assert proc.returncode == 0, show(proc)
    after = device.stat() if device.exists() else before
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    if command == "model-public-key":
        assert bytes(got).startswith(b"-----BEGIN PUBLIC KEY-----")
    else:
        assert bytes(got) == data


def test_decrypt_to_dev_null_leaves_it_a_device(sealed, show):
    before = os.stat("/dev/null")
    proc = sealed[0].run("decrypt", "c.mlw", "-o", "/dev/null", "--force")
    assert proc.returncode == 0, show(proc)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


@pytest.mark.parametrize("command", ["decrypt", "data-get"])
def test_a_tampered_payload_sends_nothing_into_a_fifo(sealed, tmp_path, check_error, command):
    """A FIFO's reader gets bytes as they are written: the whole payload is verified first."""
    ws, _data, cipher = sealed
    if command == "decrypt":
        bad = bytearray(cipher)
        bad[-1] ^= 0x01  # the last segment: every earlier one verifies
        (tmp_path / "c.mlw").write_bytes(bytes(bad))
        args = ["decrypt", "c.mlw"]
    else:
        ws.ok("data", "put", "plain.bin", "--name", "d")
        (obj,) = [p for p in (ws.home / "objects").glob("*/*") if p.is_file()]
        blob = bytearray(obj.read_bytes())
        blob[-1] ^= 0x01
        obj.chmod(0o600)
        obj.write_bytes(bytes(blob))
        args = ["data", "get", "d"]
    with fifo_reader(tmp_path / "fifo") as got:
        check_error(ws.run(*args, "-o", "fifo"), 3)
    assert b"".join(got) == b""


def test_other_special_outputs_are_refused(sealed, tmp_path, check_error):
    ws = sealed[0]
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock"))
        check_error(ws.run("decrypt", "c.mlw", "-o", "sock", "--force"), 2, "socket", "regular file")
        check_error(ws.run("model", "public-key", "-o", "sock", "--force"), 2, "socket")
    finally:
        sock.close()
    assert stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)
    check_error(ws.run("model", "public-key", "-o", tmp_path, "--force"), 2, "folder")


def test_public_key_and_sign_refuse_an_existing_file_without_force(sealed, tmp_path, check_error):
    ws = sealed[0]
    (tmp_path / "keep.pem").write_bytes(b"mine")
    check_error(ws.run("model", "public-key", "-o", "keep.pem"), 2, "exists", "--force")
    assert (tmp_path / "keep.pem").read_bytes() == b"mine"
    ws.ok("model", "public-key", "-o", "keep.pem", "--force")
    assert (tmp_path / "keep.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")

    (tmp_path / "keep.sig").write_bytes(b"mine")
    check_error(ws.run("model", "sign", "plain.bin", "-o", "keep.sig"), 2, "exists", "--force")
    assert (tmp_path / "keep.sig").read_bytes() == b"mine"
    ws.ok("model", "sign", "plain.bin", "-o", "keep.sig", "--force")
    assert (tmp_path / "keep.sig").read_bytes() != b"mine"
    ws.ok("model", "sign", "plain.bin")  # the default PATH.sig, new
    check_error(ws.run("model", "sign", "plain.bin"), 2, "plain.bin.sig", "exists")
    check_error(ws.run("model", "public-key", "-o", "no/such/folder.pem"), 2, "does not exist")
