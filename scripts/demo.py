"""The mlwarden demo (`make demo`): the main job on the embedded default, told step by step.

It creates a workspace in a temporary folder, encrypts a sample data set, rotates the key,
decrypts after the rotation, and shows what happens to a tampered file and a wrong passphrase.
Every step runs the real `mlwarden` command, printed before its output, so you can copy it.
Nothing is left behind: the temporary folder is removed at the end.
"""

from __future__ import annotations

import hashlib
import os
import random
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


def sample_csv(path: Path, rows: int = 5000) -> None:
    """A synthetic loan-application table (stand-in until the German Credit data set ships)."""
    rng = random.Random(7)
    purposes = ["car", "furniture", "education", "business", "repairs"]
    with path.open("w") as out:
        out.write("applicant_id,age,income,loan_amount,duration_months,purpose,defaulted\n")
        for i in range(rows):
            age = rng.randint(19, 75)
            income = rng.randint(900, 12000)
            amount = rng.randint(250, 20000)
            duration = rng.choice([6, 12, 18, 24, 36, 48])
            risk = amount / (income * duration) + (0.2 if age < 25 else 0.0)
            out.write(f"A{i:05d},{age},{income},{amount},{duration},{rng.choice(purposes)},{int(risk > 0.25)}\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mlwarden-demo-"))
    try:
        home = tmp / "workspace"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLWARDEN_")}
        env.update(MLWARDEN_HOME=str(home), MLWARDEN_PASSPHRASE=PASSPHRASE)
        print(f"mlwarden demo: a throw-away workspace in {tmp}")

        step("1. Create a workspace, unlocked by a passphrase (Argon2id)")
        run(["init"], env)

        step("2. Encrypt a data set: a fresh data key, wrapped by key version 1")
        data = tmp / "loans.csv"
        sample_csv(data)
        print(f"  sample data: {data.name}, {data.stat().st_size:,} bytes, SHA-256 {sha256(data)[:16]}...")
        run(["encrypt", str(data), "-o", str(tmp / "loans.csv.mlw")], env)
        sealed = (tmp / "loans.csv.mlw").read_bytes()
        print(
            f"  ciphertext starts {sealed[:6]!r} (format version {sealed[6]}, key version "
            f"{int.from_bytes(sealed[8:12], 'big')}); contains 'applicant_id': {b'applicant_id' in sealed}"
        )
        run(["keys", "ls"], env)

        step("3. Rotate: key version 2 becomes primary, every data key is rewrapped, payloads untouched")
        run(["keys", "rotate"], env)
        run(["keys", "ls"], env)

        step("4. Decrypt after the rotation: byte-identical")
        restored = tmp / "restored.csv"
        run(["decrypt", str(tmp / "loans.csv.mlw"), "-o", str(restored)], env)
        same = sha256(restored) == sha256(data)
        print(f"  restored SHA-256 matches the original: {same}")
        if not same:
            raise SystemExit("demo: the round trip changed the data")

        step("5. A tampered file is refused (exit 3) and no output is written")
        tampered = bytearray(sealed)
        tampered[len(tampered) // 2] ^= 0x01
        (tmp / "tampered.mlw").write_bytes(bytes(tampered))
        run(["decrypt", str(tmp / "tampered.mlw"), "-o", str(tmp / "should-not-exist.csv")], env, expect=3)
        print(f"  output file exists: {(tmp / 'should-not-exist.csv').exists()}")

        step("6. A wrong passphrase unlocks nothing (exit 3)")
        run(["keys", "ls"], {**env, "MLWARDEN_PASSPHRASE": "not the passphrase"}, expect=3)

        step("7. Crypto-shredding: destroy the file's data key, then the old key version")
        run(["shred", str(tmp / "loans.csv.mlw"), "--yes"], env)
        run(["decrypt", str(tmp / "loans.csv.mlw"), "-o", str(tmp / "after-shred.csv")], env, expect=2)
        run(["keys", "destroy", "1", "--yes"], env)
        run(["keys", "ls"], env)

        print("\nSummary: a workspace unlocked by a passphrase; a data set encrypted with AES-256-GCM in")
        print("1 MiB authenticated segments (Tink's format) under its own data key; the key rotated and")
        print("the data key rewrapped without touching the payload; tampering and a wrong passphrase")
        print("refused (exit 3); the data key shredded and the old key version destroyed, so no copy of")
        print("the file can ever be read again.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
