"""The mlwarden demo (`make demo`): the main job on the embedded default, told step by step.

It creates a workspace in a temporary folder, puts the German Credit data set into the
encrypted dataset store, shows what the catalog knows about it, reads it back, rotates the
keys, and shows what happens to a tampered object, a Fernet migration, a shredded version and a
wrong passphrase. Then it adds a scientist scoped to ``credit-*`` and an auditor, shows what
each may and may not do (denied actions exit 3), and verifies the tamper-evident audit log,
trains, signs, promotes, exports, verifies and scans the credit-risk model (its training data audited
first: a backdoored copy is flagged with its trigger named, refused, and trained on without the
flagged rows; production only once a reviewer other than its trainer approved it), and catches a
malicious pickle. Then it serves the production models on loopback (a tampered one is refused),
answers a granted client, gives a refused applicant their reasons (exact per-column
contributions, at most four) while a plain client is refused explanations, writes the model's
signed card (fairness per group, metrics with intervals) and catches one changed byte of it. Then
the traffic shifts on purpose: the server's drift windows (counts, no rows) raise an alert, a
retrain started by it makes an audited, signed candidate, its trainer may not approve it, a
deployer may not promote it unapproved, and once a reviewer approves it the running server switches
to it while a client keeps calling, with no failed request. Last, it
shows every prediction in a log that verifies, before and after someone edits the log behind
mlwarden's back. The server is stopped before the demo ends, whatever happens.
Every step runs the real `mlwarden` command, printed before its output, so you can copy it.
Nothing is left behind: the temporary folder is removed at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

MLWARDEN = [sys.executable, "-m", "mlwarden"]
PASSPHRASE = "demo: correct horse battery staple"


def step(title: str) -> None:
    print(f"\n== {title}")


def run(
    args: list[str], env: dict[str, str], expect: int = 0, *, tail: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one command and print its output (only its last ``tail`` lines, when given)."""
    shown = " ".join(shlex.quote(a) for a in args)
    print(f"$ mlwarden {shown}")
    proc = subprocess.run([*MLWARDEN, *args], env=env, capture_output=True, text=True, check=False)
    lines = (proc.stdout + proc.stderr).rstrip().splitlines()
    if tail is not None and len(lines) > tail:
        print(f"  ... ({len(lines) - tail} earlier lines)")
        lines = lines[-tail:] if tail else []
    for line in lines:
        print(f"  {line}")
    print(f"  (exit {proc.returncode})")
    if proc.returncode != expect:
        raise SystemExit(f"demo: expected exit {expect}, got {proc.returncode}")
    return proc


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start `mlwarden serve` and wait until /healthz answers (its own process group, stopped later)."""
    import time
    import urllib.request

    print(f"$ mlwarden {' '.join(shlex.quote(a) for a in args)} &")
    server = subprocess.Popen([*MLWARDEN, *args], env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    port = args[args.index("--port") + 1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"demo: the server exited: {server.stderr.read() if server.stderr else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        stop_server(server)
        raise SystemExit("demo: the server did not start within 60 s")
    return server


def stop_server(server: subprocess.Popen[str]) -> None:
    import signal

    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    if server.stderr is not None:
        for line in server.stderr.read().splitlines():
            print(f"  [server] {line}")


def post(url: str, body: object, token: str | None) -> tuple[int, Any]:
    """POST JSON; (status, decoded answer), for error statuses too."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def credit_rows(path: Path, count: int) -> list[dict[str, Any]]:
    """The first rows of the credit CSV without the target, numbers as JSON numbers."""
    import csv

    rows = []
    with path.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            rows.append({k: int(v) if v.lstrip("-").isdigit() else v for k, v in raw.items() if k != "creditability"})
            if len(rows) == count:
                break
    return rows


def shifted_applicants(path: Path, count: int) -> list[dict[str, Any]]:
    """The ``count`` applicants asking for the largest loans: the traffic after a campaign for big
    loans (every value inside the training range, so the server accepts each row)."""
    rows = credit_rows(path, 10_000)
    rows.sort(key=lambda r: -int(r["credit_amount"]))
    return rows[:count]


class Hammer:
    """Clients sending predictions without pause in a thread, noting each answer's status and version."""

    def __init__(self, url: str, token: str, rows: list[dict[str, Any]]) -> None:
        import threading

        self.url, self.token, self.rows = url, token, rows
        self.answers: list[tuple[int, int | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        k = 0
        while not self._stop.is_set():
            status, answer = post(self.url, {"instances": [self.rows[k % len(self.rows)]]}, self.token)
            self.answers.append((status, answer.get("model", {}).get("version") if status == 200 else None))
            k += 1

    def __enter__(self) -> Hammer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def drift_retrain_and_switch(base: str, credit: Path, env: dict[str, str], who: dict[str, dict[str, str]]) -> None:
    """Steps 22b-22d: shifted live traffic raises a drift alert; a retrain makes a signed candidate;
    it reaches production only after another principal approves; the server switches under load."""
    import time

    as_bob, as_rita, as_dana = who["bob"], who["rita"], who["dana"]
    step("22b. The traffic shifts (a campaign for large loans): the server's drift windows raise an alert")
    feed = run(
        ["user", "add", "loan-feed", "--role", "client", "--scope", "credit-risk", "--rate-limit", "60000"], env
    ).stdout.strip()
    shifted = shifted_applicants(credit, 300)
    for start in range(0, len(shifted), 50):
        status, _ = post(f"{base}/v1/models/credit-risk/predict", {"instances": shifted[start : start + 50]}, feed)
        if status != 200:
            raise SystemExit(f"demo: the shifted traffic was refused ({status})")
    print(f"  sent {len(shifted)} applicants (the largest loans) as loan-feed; waiting for the window to close")
    time.sleep(3)
    post(f"{base}/v1/models/credit-risk/predict", {"instances": shifted[:1]}, feed)
    time.sleep(1)
    run(["monitor", "drift", "credit-risk", "--live", "--show", "6"], as_bob, expect=1)

    step("22c. A retrain, started by the alert: an audited, signed candidate compared with the champion")
    run(
        ["monitor", "drift", "credit-risk", "--live", "--retrain", "--retrain-data", "credit-german@2", "--show", "0"],
        as_bob,
        expect=1,
        tail=14,
    )
    candidate = json.loads(run(["model", "info", "credit-risk@2", "--json"], as_bob, tail=0).stdout)
    trigger = candidate["provenance"]["retrain"]["trigger"]
    print(f"  credit-risk@2 stage {candidate['stage']}; signed trigger: {trigger}")
    if candidate["stage"] != "candidate":
        raise SystemExit("demo: the retrained model is not a candidate")

    step("22d. Four eyes, then a switch under load: no failed request, no answer from a mixed version")
    with Hammer(f"{base}/v1/models/credit-risk/predict", feed, shifted) as hammer:
        run(["model", "approve", "credit-risk@2"], as_bob, expect=3)  # its trainer
        run(["model", "promote", "credit-risk@2", "--stage", "production"], as_dana, expect=3)  # not approved
        run(["model", "approve", "credit-risk@2", "--note", "retrained after drift report"], as_rita)
        run(["model", "promote", "credit-risk@2", "--stage", "production"], as_dana)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(v == 2 for _, v in hammer.answers[-5:]):
            time.sleep(0.2)
        time.sleep(0.5)
    statuses = [s for s, _ in hammer.answers]
    versions = [v for _, v in hammer.answers]
    switched = versions.index(2) if 2 in versions else None
    print(
        f"  {len(statuses)} requests during the approval and the switch: {statuses.count(200)} answered 200, "
        f"{len(statuses) - statuses.count(200)} failed"
    )
    if switched is not None:
        print(f"  answers 1..{switched} from credit-risk@1, then from credit-risk@2 ({versions.count(2)} of them)")
    if set(statuses) != {200} or switched is None or any(v != 2 for v in versions[switched:]):
        seen = {code: statuses.count(code) for code in sorted(set(statuses))}
        raise SystemExit(f"demo: the server did not switch to the approved version without a failed request {seen}")


def personal_data(tmp: Path, admin: dict[str, str], scientist: dict[str, str]) -> None:
    """Personal data: found at put, refused as features, pseudonymised, one person erased everywhere."""
    from mlwarden.usecases import customers

    step("23c. Personal data: `data put` names the PII columns; `train` refuses a raw e-mail column")
    first, second = tmp / "customers-1.csv", tmp / "customers-2.csv"
    customers(300).to_csv(first, index=False)
    customers(400).to_csv(second, index=False)  # the same 300 people and 100 more
    run(["data", "put", str(first), "--name", "credit-customers"], admin, tail=2)
    run(["data", "pii", "credit-customers"], admin, tail=12)
    train = ["train", "--data", "credit-customers", "--target", "default", "--name", "credit-pd-risk"]
    run(train, scientist, expect=1)

    step("23d. Pseudonymisation: keyed tokens (joins still work), generalised quasi-identifiers, k-anonymity")
    run(["data", "put", str(second), "--name", "credit-customers"], admin, tail=1)
    run(
        [
            "data", "pseudonymise", "credit-customers@2", "--columns", "customer_id,name,email,phone,iban",
            "--generalise", "age=10,postcode=2",
        ],
        admin,
    )  # fmt: skip
    run(["train", "--data", "credit-customers@3", "--target", "default", "--name", "credit-pd-risk"], scientist, tail=1)

    step("23e. Erasure: one person leaves every version (in clear and as a token); the model is flagged")
    subject = str(customers(300)["email"].iloc[42])
    run(["data", "forget", "--subject", f"email={subject}", "--dry-run"], admin, tail=6)
    done = run(["data", "forget", "--subject", f"email={subject}", "--json"], admin, tail=0)
    outcome = json.loads(done.stdout)
    for version in outcome["versions"]:
        print(f"  {version['ref']}: {version['matched']} row(s) removed -> {version['successor']}; shredded")
    run(["model", "ls"], scientist)
    if len(outcome["versions"]) != 3 or outcome["models_to_retrain"] != ["credit-pd-risk@1"]:
        raise SystemExit("demo: the erasure did not reach the three versions and the model trained on them")
    logged = run(["log", "show", "--action", "dataset.forget", "--json"], admin, tail=0).stdout
    print(f"  the log holds the subject's keyed hash only: {subject not in logged}")
    if subject in logged:
        raise SystemExit("demo: the erased subject's value is in the log")


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
        print(
            f"  stored object {objects[0].name}: {len(stored):,} bytes; contains 'creditability': "
            f"{b'creditability' in stored}"
        )

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
        run(
            [
                "data",
                "import-fernet",
                str(tmp / "scores.csv.enc"),
                "--key",
                str(tmp / "secret.key"),
                "--name",
                "legacy-scores",
            ],
            env,
        )
        (tmp / "wrong.key").write_bytes(Fernet.generate_key())
        run(
            [
                "data",
                "import-fernet",
                str(tmp / "scores.csv.enc"),
                "--key",
                str(tmp / "wrong.key"),
                "--name",
                "legacy-scores",
            ],
            env,
            expect=3,
        )

        step("9. Crypto-shred version 1: its data key is destroyed, the catalog keeps a tombstone")
        run(["data", "rm", "credit-german@1", "--shred"], env)
        run(["data", "get", "credit-german@1", "-o", str(tmp / "after-shred.csv")], env, expect=2)
        run(["data", "info", "credit-german@1"], env)

        step("10. A wrong passphrase unlocks nothing (exit 3)")
        run(["data", "ls"], {**env, "MLWARDEN_PASSPHRASE": "not the passphrase"}, expect=3)

        step("11. Principals: a scientist scoped to credit-*, an auditor (tokens are shown once)")
        hr = tmp / "hr_salaries.csv"
        hr.write_text("employee,salary\nE1,51000\nE2,64000\n")
        run(["data", "put", str(hr), "--name", "hr-salaries"], env)
        alice = run(["user", "add", "alice", "--role", "scientist", "--scope", "credit-*", "--expires", "30d"], env)
        carol = run(["user", "add", "carol", "--role", "auditor"], env)
        as_alice = {**env, "MLWARDEN_TOKEN": alice.stdout.strip()}
        as_carol = {**env, "MLWARDEN_TOKEN": carol.stdout.strip()}
        run(["user", "ls"], env)

        step("12. The scientist reads credit-german, but cannot write it nor read hr-salaries")
        run(["data", "get", "credit-german", "-o", str(tmp / "alice.csv")], as_alice)
        run(["data", "put", str(changed), "--name", "credit-german"], as_alice, expect=3)
        run(["data", "get", "hr-salaries", "-o", str(tmp / "alice-hr.csv")], as_alice, expect=3)
        run(["data", "ls"], as_alice)

        step("13. The auditor reads the log but no dataset; a revoked token is refused")
        run(["data", "get", "credit-german", "-o", str(tmp / "carol.csv")], as_carol, expect=3)
        run(["log", "checkpoint", "-o", str(tmp / "head.json")], as_carol)
        run(["user", "revoke", "alice"], env)
        run(["data", "ls"], as_alice, expect=3)

        step("14. The audit log: every action above, the denied ones too, and a verifying Merkle tree")
        shown = run(["log", "show"], as_carol, tail=14)
        denied = [line for line in shown.stdout.splitlines() if " denied " in line]
        print(f"  {len(shown.stdout.splitlines())} entries, {len(denied)} of them denied")
        run(["log", "verify", "--checkpoint", str(tmp / "head.json")], as_carol)

        step("15. A scientist trains the credit-risk model: data decrypted in memory only, model signed")
        bob = run(["user", "add", "bob", "--role", "scientist", "--scope", "credit-*"], env)
        dana = run(["user", "add", "dana", "--role", "deployer", "--scope", "credit-*"], env)
        rita = run(["user", "add", "rita", "--role", "reviewer", "--scope", "credit-*"], env)
        as_bob = {**env, "MLWARDEN_TOKEN": bob.stdout.strip()}
        as_dana = {**env, "MLWARDEN_TOKEN": dana.stdout.strip()}
        as_rita = {**env, "MLWARDEN_TOKEN": rita.stdout.strip()}
        reasons_map = tmp / "reasons.json"
        reasons_map.write_text(
            json.dumps(
                {
                    "status_of_existing_checking_account": "Status or balance of your checking account",
                    "duration_in_month": "Length of the loan term requested",
                    "credit_history": "Your credit history",
                    "savings_account_and_bonds": "Insufficient savings",
                    "credit_amount": "Amount of credit requested",
                }
            )
        )
        run(
            [
                "train", "--data", "credit-german@2", "--target", "creditability", "--name", "credit-risk",
                "--adverse-class", "bad", "--reason-map", str(reasons_map),
                "--not-reason", "age_in_years", "--not-reason", "personal_status_and_sex",
                "--protected", "age_in_years", "--protected", "personal_status_and_sex",
            ],
            as_bob,
        )  # fmt: skip
        info = json.loads(run(["model", "info", "credit-risk@1", "--json"], as_bob, tail=0).stdout)
        data_sha = json.loads(run(["data", "info", "credit-german@2", "--json"], env, tail=0).stdout)["sha256"]
        print(f"  the model's provenance names credit-german@2 with SHA-256 {info['provenance']['dataset']['sha256']}")
        print(f"  equal to the dataset's own SHA-256: {info['provenance']['dataset']['sha256'] == data_sha}")
        if info["provenance"]["dataset"]["sha256"] != data_sha:
            raise SystemExit("demo: the model's provenance does not name the dataset it was trained on")

        step("15b. The training-data audit: the data passes; a backdoored copy is flagged, naming its trigger")
        run(["audit", "data", "credit-german@2", "--target", "creditability"], as_bob, tail=2)
        from mlwarden.audit._poison_generators import german_credit, inject_backdoor

        clean_frame, target = german_credit()
        attack = inject_backdoor(clean_frame, target, 0.03, seed=1, family="categorical")
        poisoned_csv = tmp / "credit-poisoned.csv"
        attack.frame.to_csv(poisoned_csv, index=False)
        planted = " and ".join(f"{c} = {spec[1][0]!r}" for c, spec in attack.trigger.items())
        print(f"  planted: {len(attack.rows)} 'bad' applicants given {planted} and relabelled {attack.label!r}")
        run(["data", "put", str(poisoned_csv), "--name", "credit-poisoned"], env, tail=1)
        run(["audit", "data", "credit-poisoned", "--target", "creditability"], as_bob, expect=1, tail=12)
        print("  training on it is refused (exit 1); --exclude-flagged trains on a derived version without them")
        train_poisoned = ["train", "--data", "credit-poisoned", "--target", "creditability", "--name", "credit-audited"]
        run(train_poisoned, as_bob, expect=1)
        run([*train_poisoned, "--exclude-flagged"], as_bob, tail=2)
        audited = json.loads(run(["model", "info", "credit-audited", "--json"], as_bob, tail=0).stdout)
        decision = audited["provenance"]["data_audit"]
        print(f"  signed provenance: audit {decision['decision']}, report sha256 {decision['report_sha256'][:16]}...")
        if decision["decision"] != "excluded-flagged" or decision["excluded_rows"] != len(attack.rows):
            raise SystemExit("demo: the audited model's provenance does not carry the exclusion")

        step("16. Four eyes: a reviewer (not its trainer) approves it, then only a deployer promotes it")
        run(["model", "promote", "credit-risk@1", "--stage", "production"], as_bob, expect=3)
        print("  the deployer may promote, but not before someone other than its trainer approved it:")
        run(["model", "promote", "credit-risk@1", "--stage", "production"], as_dana, expect=3)
        run(["model", "approve", "credit-risk@1", "--note", "validation report VR-1"], as_rita)
        run(["model", "promote", "credit-risk@1", "--stage", "production"], as_dana)
        run(["model", "ls"], as_dana)

        step("17. Export it, verify it with the public key alone (OpenSSF model-signing format), scan it")
        exported = tmp / "export"
        run(["model", "export", "credit-risk@1", "-o", str(exported)], as_dana)
        run(["model", "public-key", "-o", str(tmp / "signer.pem")], env)
        model_file = exported / "credit-risk.skops"
        run(["model", "verify", str(model_file), "--key", str(tmp / "signer.pem")], env)
        run(["model", "scan", str(exported)], env)

        step("18. One byte of the model changed: verification and the one load refuse it")
        blob = bytearray(model_file.read_bytes())
        blob[len(blob) // 2] ^= 0x01
        model_file.write_bytes(bytes(blob))
        run(["model", "verify", str(model_file), "--key", str(tmp / "signer.pem")], env, expect=3)
        from mlwarden import models
        from mlwarden.errors import SignatureError

        try:
            models.load(model_file, public_key=tmp / "signer.pem")
        except SignatureError as exc:
            print(f"  mlwarden.models.load refused it: SignatureError: {exc}")
        else:
            raise SystemExit("demo: a changed model was loaded")

        step("19. The scanner: a pickle that would run a shell command is caught without running it")
        evil = tmp / "innocent-model.pkl"
        marker = tmp / "pwned"
        # A protocol-0 pickle calling os.system, written as bytes: it is never unpickled.
        evil.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
        run(["model", "scan", str(evil)], env, expect=1)
        print(f"  the command ran: {marker.exists()}")

        step("20. Serve on loopback: every production model is verified first; a tampered one is refused")
        before = set((home / "models").rglob("*"))
        run(["train", "--data", "credit-german@2", "--target", "creditability", "--name", "credit-shadow"], as_bob)
        run(["model", "approve", "credit-shadow@1"], as_rita)
        run(["model", "promote", "credit-shadow@1", "--stage", "production"], as_dana)
        shadow_info = json.loads(run(["model", "info", "credit-shadow@1", "--json"], as_bob, tail=0).stdout)
        provenance = shadow_info["provenance"]
        # The new objects: the model, and beside it (encrypted too) its explanation background and drift profile.
        beside = {provenance["explanations"]["background"]["object"]}
        beside |= {provenance["drift_profile"]["object"]} if "drift_profile" in provenance else set()
        (shadow,) = [p for p in set((home / "models").rglob("*")) - before if p.is_file() and p.name not in beside]
        blob = bytearray(shadow.read_bytes())
        blob[len(blob) // 2] ^= 0x01
        shadow.write_bytes(bytes(blob))
        print(f"  flipped one bit of credit-shadow's encrypted object {shadow.relative_to(home)}")
        run(["serve", "--check"], as_dana, expect=1)
        port = free_port()
        server = start_server(["serve", "--port", str(port), "--drift-window", "2", "--reload-interval", "1"], as_dana)
        try:
            base = f"http://127.0.0.1:{port}"

            step("21. A client granted credit-risk gets predictions; each answer names the model's SHA-256")
            app = run(
                ["user", "add", "loan-app", "--role", "client", "--scope", "credit-risk", "--rate-limit", "5"], env
            )
            app_token = app.stdout.strip()
            rows = credit_rows(credit, 3)
            status, answer = post(f"{base}/v1/models/credit-risk/predict", {"instances": rows}, app_token)
            print(f"  POST /v1/models/credit-risk/predict (3 rows) -> {status}")
            print(f"  predictions {answer['predictions']}, probabilities {answer['probabilities']}")
            model = answer["model"]
            print(f"  model {model['name']}@{model['version']} sha256 {model['digest'][:16]}...")
            if status != 200 or answer["model"]["digest"] != info["sha256"]:
                raise SystemExit("demo: the granted client was not answered by the registered model")

            step("21b. A refused applicant's reasons: exact per-column contributions, at most four, from the server")
            explained = run(
                ["user", "add", "loan-officer", "--role", "explained-client", "--scope", "credit-risk"], env
            ).stdout.strip()
            candidates = credit_rows(credit, 40)
            status, scored = post(f"{base}/v1/models/credit-risk/predict", {"instances": candidates}, explained)
            refused_at = scored["predictions"].index("bad")
            applicant = candidates[refused_at]
            status, answer = post(
                f"{base}/v1/models/credit-risk/predict", {"instances": [applicant], "explain": True}, explained
            )
            e = answer["explanations"][0]
            total = e["base"] + sum(e["contributions"].values())
            print(
                f"  applicant (row {refused_at}) -> {status}: {answer['predictions'][0]!r}, "
                f"log-odds of good {e['output']:.4f}"
            )
            print(
                f"  base {e['base']:.4f} + {len(e['contributions'])} column contributions = {total:.4f} "
                "(checked to 1e-6)"
            )
            for r in e["reasons"]:
                print(f"    {r['contribution']:+.3f}  {r['text']} ({r['column']} = {r['value']!r})")
            if status != 200 or not e["reasons"] or len(e["reasons"]) > 4 or abs(total - e["output"]) > 1e-6:
                raise SystemExit("demo: the refused applicant did not get exact reasons")
            status, denied = post(
                f"{base}/v1/models/credit-risk/predict", {"instances": [applicant], "explain": True}, app_token
            )
            print(f"  loan-app (a plain client) asking for explanations: {status} {denied}")
            if status != 403:
                raise SystemExit("demo: a plain client got explanations")

            step("22. Everyone else is refused: no token, a scientist, a model not granted, a burst over the limit")
            for who, url, token in (
                ("no token", f"{base}/v1/models/credit-risk/predict", None),
                ("bob (scientist)", f"{base}/v1/models/credit-risk/predict", as_bob["MLWARDEN_TOKEN"]),
                ("loan-app on credit-shadow", f"{base}/v1/models/credit-shadow/predict", app_token),
                ("loan-app on a model that does not exist", f"{base}/v1/models/no-such-model/predict", app_token),
            ):
                status, answer = post(url, {"instances": rows[:1]}, token)
                print(f"  {who}: {status} {answer}")
            statuses = [
                post(f"{base}/v1/models/credit-risk/predict", {"instances": rows[:1]}, app_token)[0] for _ in range(6)
            ]
            print(f"  loan-app (limit 5 per minute) sends 6 more: {statuses}")
            if statuses[-1] != 429:
                raise SystemExit("demo: the rate limit did not hold")
            drift_retrain_and_switch(base, credit, env, {"bob": as_bob, "rita": as_rita, "dana": as_dana})
        finally:
            stop_server(server)
        print("  server stopped")

        step("23. Every prediction is on the record, with model digest, dataset version and input digest")
        run(["log", "show", "--action", "predict", "--outcome", "succeeded"], as_carol, tail=3)
        shown_log = run(["log", "show", "--action", "predict", "--json"], as_carol, tail=0).stdout
        logged = [json.loads(line) for line in shown_log.splitlines() if line.strip()]
        with_reasons = [entry for entry in logged if "reasons" in entry.get("details", {})]
        print(
            f"  the refused applicant's reasons, from the log: {json.loads(with_reasons[-1]['details']['reasons'])[0]}"
        )
        if json.loads(with_reasons[-1]["details"]["reasons"])[0] != e["reasons"]:
            raise SystemExit("demo: the log does not hold the reasons the applicant was given")

        step("23b. The model card: provenance, metrics with intervals, importance, fairness; signed and verified")
        card = tmp / "credit-risk-card.json"
        run(["model", "card", "credit-risk@1", "-o", str(card), "--purpose", "Consumer credit pre-screening"], as_bob)
        run(["model", "card", "credit-risk@1", "-o", str(tmp / "credit-risk-card.html")], as_bob)
        signed = json.loads(card.read_bytes())
        import base64

        content = json.loads(base64.b64decode(signed["payload"]))["predicate"]
        for column in content["fairness"]["columns"]:
            print(
                f"  fairness {column['column']}: selection-rate difference "
                f"{column['demographic_parity_difference']:.3f}, "
                f"ratio {column['demographic_parity_ratio']:.3f}, four-fifths flag {column['four_fifths_flag']}"
            )
        run(["model", "verify-card", str(card)], as_bob)
        changed = bytearray(card.read_bytes())
        changed[changed.index(b'"payload"') + 80] ^= 0x01
        (tmp / "changed-card.json").write_bytes(bytes(changed))
        print("  one byte of the card changed:")
        run(["model", "verify-card", str(tmp / "changed-card.json")], as_bob, expect=3)
        run(["log", "show", "--action", "model.serve", "--outcome", "failed"], as_carol)
        run(["log", "verify"], as_carol)

        personal_data(tmp, env, as_bob)

        step("24. Someone edits the log's storage behind mlwarden's back: verification names the entry")
        import sqlite3

        db = sqlite3.connect(home / "access.db")
        query = "SELECT seq, entry FROM audit_entries WHERE CAST(entry AS TEXT) LIKE ? LIMIT 1"
        seq, entry = db.execute(query, ('%"denied"%',)).fetchone()
        db.execute("UPDATE audit_entries SET entry = ? WHERE seq = ?", (entry.replace(b"denied", b"allowed"), seq))
        db.commit()
        db.close()
        print(f"  changed entry {seq} from 'denied' to 'allowed'")
        run(["log", "verify"], as_carol, expect=3)

        print("\nSummary: the German Credit data stored encrypted (AES-256-GCM in 1 MiB authenticated")
        print("segments, its own data key) with its schema, rows and SHA-256 in the catalog; read back")
        print("byte-identical, also after a key rotation; tampering refused with exit 3; a Fernet file")
        print("migrated (and a wrong Fernet key refused); one version crypto-shredded, leaving a tombstone.")
        print("A scientist scoped to credit-* read credit-german but was refused a write and hr-salaries;")
        print("an auditor read and verified the signed audit log but no data; a revoked token was refused.")
        print("A scientist trained the credit-risk model on the encrypted data (in memory only); it was")
        print("signed with its provenance (the dataset's SHA-256), approved by a reviewer other than its")
        print("trainer and only then promoted by a deployer, verified")
        print("with the public key alone, refused after one changed byte; a malicious pickle was caught")
        print("by the scanner without running. The server verified every production model, refused the one")
        print("with a flipped bit, answered a granted client (naming the model's SHA-256), refused a missing")
        print("token, a scientist, an ungranted model (answered like a missing one) and a burst over the rate")
        print("limit, and recorded every prediction in a log that verified. A refused applicant got at most")
        print("four exact per-column reasons from the server, recorded in the log (a plain client was refused")
        print("explanations); the model's signed card (metrics with intervals, importance, fairness per group)")
        print("verified and failed after one changed byte. Shifted live traffic raised a drift alert from")
        print("the server's windows; the retrain it started made a signed candidate that reached production")
        print("only after a reviewer (not its trainer) approved it, and the running server switched to it")
        print("with no failed request. A customer table's personal data was named at put; training on a")
        print("raw e-mail column was refused; its pseudonymised version (keyed tokens, generalised age and")
        print("postcode) was trained on; one person was erased from all three versions, in clear and as a")
        print("token, and the model trained on them was flagged for retraining. An entry edited in the")
        print("log's storage was then caught and named.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
