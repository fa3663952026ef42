"""The mlwarden demo (`make demo`): the main job on the embedded default, told step by step.

It creates a workspace in a temporary folder, puts the German Credit data set into the
encrypted dataset store, shows what the catalog knows about it, reads it back, rotates the
keys, and shows what happens to a tampered object, a Fernet migration, a shredded version and a
wrong passphrase.
Every step runs the real `mlwarden` command, printed before its output, so you can copy it.
Nothing is left behind: the temporary folder is removed at the end.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MLWARDEN = [sys.executable, "-m", "mlwarden"]
PASSPHRASE = "demo: correct horse battery staple"


def step(title: str) -> None:
    print(f"\n== {title}")


def run(args: list[str], env: dict[str, str], expect: int = 0) -> subprocess.CompletedProcess[str]:
    shown = " ".join(shlex.quote(a) for a in args)
    print(f"$ mlwarden {shown}")
    proc = subprocess.run([*MLWARDEN, *args], env=env, capture_output=True, text=True, check=False)
    for line in (proc.stdout + proc.stderr).rstrip().splitlines():
        print(f"  {line}")
    print(f"  (exit {proc.returncode})")
    if proc.returncode != expect:
        raise SystemExit(f"demo: expected exit {expect}, got {proc.returncode}")
    return proc


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    from mlwarden.usecases import german_credit_csv

    tmp = Path(tempfile.mkdtemp(prefix="mlwarden-demo-"))
    try:
        home = tmp / "workspace"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
        env.update(MLWARDEN_HOME=str(home), MLWARDEN_PASSPHRASE=PASSPHRASE)
        print(f"mlwarden demo: a throw-away workspace in {tmp}")
        credit = german_credit_csv()

        step("1. Create a workspace, unlocked by a passphrase (Argon2id)")
        run(["init"], env)

        step("2. Put the German Credit data (UCI, CC BY 4.0) into the encrypted dataset store")
        print(f"  {credit.name}: {credit.stat().st_size:,} bytes, SHA-256 {sha256(credit)[:16]}...")
        run(["data", "put", str(credit), "--name", "credit-german", "--tag", "source=uci-statlog"], env)
        objects = [p for p in (home / "objects").rglob("*") if p.is_file()]
        stored = objects[0].read_bytes()
        print(f"  stored object {objects[0].name}: {len(stored):,} bytes; contains 'creditability': "
              f"{b'creditability' in stored}")

        step("3. What the catalog knows: schema read with pyarrow, rows, SHA-256, key version, tags")
        run(["data", "info", "credit-german"], env)

        step("4. Read it back: byte-identical")
        restored = tmp / "restored.csv"
        run(["data", "get", "credit-german", "-o", str(restored)], env)
        same = sha256(restored) == sha256(credit)
        print(f"  restored SHA-256 matches the original: {same}")
        if not same:
            raise SystemExit("demo: the round trip changed the data")

        step("5. The same content again makes no new version; changed content makes version 2")
        run(["data", "put", str(credit), "--name", "credit-german"], env)
        changed = tmp / "german_credit_v2.csv"
        original_rows = credit.read_bytes()
        changed.write_bytes(original_rows + original_rows.splitlines(True)[1])
        run(["data", "put", str(changed), "--name", "credit-german", "--tag", "note=one row duplicated"], env)
        run(["data", "ls"], env)

        step("6. Rotate the keys: data keys rewrapped, objects untouched, still readable")
        run(["keys", "rotate"], env)
        run(["data", "get", "credit-german@1", "-o", str(tmp / "after-rotation.csv")], env)

        step("7. A tampered object is refused (exit 3, naming the version) and no output is written")
        victim = objects[0]
        original = victim.read_bytes()
        damaged = bytearray(original)
        damaged[len(damaged) // 2] ^= 0x01
        os.chmod(victim, 0o600)
        victim.write_bytes(bytes(damaged))
        run(["data", "get", "credit-german@1", "-o", str(tmp / "should-not-exist.csv")], env, expect=3)
        print(f"  output file exists: {(tmp / 'should-not-exist.csv').exists()}")
        run(["data", "check"], env, expect=3)
        victim.write_bytes(original)
        run(["data", "check"], env)

        step("8. Migrate a file encrypted with the Fernet tutorial recipe")
        from cryptography.fernet import Fernet

        key = Fernet.generate_key()
        (tmp / "secret.key").write_bytes(key)
        (tmp / "scores.csv.enc").write_bytes(Fernet(key).encrypt(b"applicant,score\nA1,0.91\nA2,0.13\n"))
        run(["data", "import-fernet", str(tmp / "scores.csv.enc"), "--key", str(tmp / "secret.key"),
             "--name", "legacy-scores"], env)
        (tmp / "wrong.key").write_bytes(Fernet.generate_key())
        run(["data", "import-fernet", str(tmp / "scores.csv.enc"), "--key", str(tmp / "wrong.key"),
             "--name", "legacy-scores"], env, expect=3)

        step("9. Crypto-shred version 1: its data key is destroyed, the catalog keeps a tombstone")
        run(["data", "rm", "credit-german@1", "--shred"], env)
        run(["data", "get", "credit-german@1", "-o", str(tmp / "after-shred.csv")], env, expect=2)
        run(["data", "info", "credit-german@1"], env)

        step("10. A wrong passphrase unlocks nothing (exit 3)")
        run(["data", "ls"], {**env, "MLWARDEN_PASSPHRASE": "not the passphrase"}, expect=3)

        print("\nSummary: the German Credit data stored encrypted (AES-256-GCM in 1 MiB authenticated")
        print("segments, its own data key) with its schema, rows and SHA-256 in the catalog; read back")
        print("byte-identical, also after a key rotation; tampering refused with exit 3; a Fernet file")
        print("migrated (and a wrong Fernet key refused); one version crypto-shredded, leaving a tombstone.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
