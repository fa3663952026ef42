"""Write the golden files of format version 1. Run once per new format version, never to "fix" a test.

    .venv/bin/python tests/goldens/make_goldens.py tests/goldens/v1

The goldens pin what mlwarden wrote at that version; tests/test_goldens.py checks that every later
mlwarden still reads them. Regenerating them would hide exactly the break they exist to catch.
"""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

from mlwarden import Workspace
from mlwarden.config import Settings
from mlwarden.crypto import new_params

MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
PASSPHRASE = "golden passphrase v1"
PLAINTEXT = b"mlwarden golden file, format version 1\n" * 100


def main(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=False)
    env_home = target / "env-workspace"
    ws = Workspace.init(env_home, settings=Settings(home=env_home, master_key=MASTER_KEY))
    out = io.BytesIO()
    ws.files.encrypt(io.BytesIO(PLAINTEXT), out)
    (target / "env-file.mlw").write_bytes(out.getvalue())
    ws.keys.rotate()  # the record now sits under version 2, the header still says 1
    out = io.BytesIO()
    ws.files.encrypt(io.BytesIO(b""), out)
    (target / "env-empty.mlw").write_bytes(out.getvalue())

    pass_home = target / "passphrase-workspace"
    cheap = new_params("argon2id", memory_kib=1024, iterations=1, lanes=1)
    ws = Workspace.init(pass_home, settings=Settings(home=pass_home, passphrase=PASSPHRASE), kdf=cheap)
    out = io.BytesIO()
    ws.files.encrypt(io.BytesIO(PLAINTEXT), out)
    (target / "passphrase-file.mlw").write_bytes(out.getvalue())
    for lock in target.rglob(".lock"):
        lock.unlink()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
