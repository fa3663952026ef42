"""``mlwarden log``: show, checkpoint and verify the tamper-evident audit log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlwarden.cli._app import (
    EXIT_INTEGRITY,
    Context,
    HelpfulGroup,
    cli,
    emit_json,
    examples,
    fail,
    home_option,
    show_help_if_bare,
)
from mlwarden.cli._common import open_output, open_workspace, progress_bar
from mlwarden.errors import BadInput, NotFound

if TYPE_CHECKING:
    from mlwarden.auditlog import Checkpoint


@cli.group(
    cls=HelpfulGroup,
    epilog=examples("mlwarden log show --outcome denied", "mlwarden log verify --checkpoint head.json"),
)
@home_option
@click.pass_context
def log(ctx: click.Context) -> None:
    """The audit log of every action: show, checkpoint, verify, prove, verify-proof."""
    show_help_if_bare(ctx)


def _since(text: str | None) -> str | None:
    """Accept RFC 3339 / ISO 8601 times (``2026-11-25``, ``2026-11-25T10:00:00Z``); compare as UTC."""
    if text is None:
        return None
    from mlwarden._clock import event_time, parse_time

    try:
        moment = parse_time(text)
    except ValueError:
        raise BadInput(f"--since {text!r} is not a time: write e.g. 2026-11-25 or 2026-11-25T10:00:00Z") from None
    return event_time(moment)


def _details(details: dict[str, object]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(details.items()) if k != "token" and v is not None)


@log.command(
    "show",
    epilog=examples(
        "mlwarden log show --since 2026-11-25 --outcome denied",
        "mlwarden log show --principal alice --action dataset. --json",
    ),
)
@click.option("--since", metavar="TIME", default=None, help="Only entries at or after TIME (e.g. 2026-11-25T10:00Z).")
@click.option("--principal", metavar="NAME", default=None, help="Only this principal's entries ('-': refused tokens).")
@click.option("--action", metavar="ACTION", default=None, help="Only this action, or a family: dataset. for dataset.*")
@click.option("--resource", metavar="RESOURCE", default=None, help="Only this resource, e.g. dataset:credit-german.")
@click.option(
    "--outcome",
    type=click.Choice(["allowed", "denied", "failed", "succeeded"]),
    default=None,
    help="Only this outcome.",
)
@click.option("--json", "as_json", is_flag=True, help="Print entries as JSON Lines.")
@home_option
@click.pass_obj
def log_show(
    ctx: Context,
    since: str | None,
    principal: str | None,
    action: str | None,
    resource: str | None,
    outcome: str | None,
    as_json: bool,
) -> None:
    """Print the log's entries: time, principal, action, resource, outcome, details."""
    ws = open_workspace(ctx)
    entries = ws.log.entries(_since(since))
    for e in entries:
        if (
            (principal is not None and e.principal != principal)
            or (
                action is not None
                and not (e.action == action or (action.endswith(".") and e.action.startswith(action)))
            )
            or (resource is not None and e.resource != resource)
            or (outcome is not None and e.outcome != outcome)
        ):
            continue
        if as_json:
            click.echo(json.dumps(e.to_json(), sort_keys=True))
        else:
            token = e.details.get("token") or "-"
            click.echo(
                f"{e.seq:>6}  {e.time}  {e.principal:<16} {e.outcome:<9} {e.action:<15} {e.resource:<28} "
                f"req={e.request_id[:8]} token={token} {_details(dict(e.details))}".rstrip()
            )


@log.command("checkpoint", epilog=examples("mlwarden log checkpoint -o head.json"))
@click.option(
    "-o", "--output", "output_name", metavar="FILE", required=True, help="Where to write it, or - for stdout."
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@home_option
@click.pass_obj
def log_checkpoint(ctx: Context, output_name: str, force: bool) -> None:
    """Export a signed checkpoint (size, root hash, signature) to keep outside the workspace.

    `mlwarden log verify --checkpoint FILE` later proves the log still holds everything it held
    then: nothing removed from its end, nothing changed before it.
    """
    ws = open_workspace(ctx)
    checkpoint = ws.log.checkpoint()
    _write_json(output_name, force, checkpoint.to_json())
    if output_name != "-":
        click.echo(
            f"checkpoint of {checkpoint.size} entries, root {checkpoint.root.hex()[:16]}, written to {output_name}"
        )


def _write_json(output_name: str, force: bool, doc: object) -> None:
    """Write ``doc`` as indented JSON to a file (atomically, mode 0644: it holds no secret) or stdout."""
    data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
    with open_output(output_name, force=force, mode=0o644) as out:
        out.write(data)


def _read_json(name: str, what: str) -> object:
    path = Path(name)
    if not path.is_file():
        raise NotFound(f"{what} file {name} does not exist")
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise BadInput(f"{name} is not JSON; give a {what} file written by mlwarden") from None


def _read_checkpoint(name: str) -> Checkpoint:
    from mlwarden.auditlog import Checkpoint

    try:
        return Checkpoint.from_json(_read_json(name, "checkpoint"))
    except BadInput:
        raise BadInput(f"{name} is not a checkpoint written by `mlwarden log checkpoint`") from None


@log.command("verify", epilog=examples("mlwarden log verify", "mlwarden log verify --checkpoint head.json --json"))
@click.option("--checkpoint", "checkpoint_name", metavar="FILE", default=None, help="A checkpoint exported earlier.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@home_option
@click.pass_obj
def log_verify(ctx: Context, checkpoint_name: str | None, as_json: bool) -> None:
    """Recompute the whole log and check its signed heads (and a checkpoint). Exit 3 if anything is wrong."""
    note = None if checkpoint_name is None else _read_checkpoint(checkpoint_name).note
    ws = open_workspace(ctx)
    with progress_bar(ws.log.size(), "verifying the log", unit="items") as advance:
        result = ws.log.verify(note, advance)
    if as_json:
        emit_json(
            {
                "ok": result.ok,
                "size": result.size,
                "root_hash": result.root.hex(),
                "signed_heads_checked": result.heads_checked,
                "checkpoint_size": result.checkpoint_size,
                "first_bad_entry": result.first_bad,
                "problem": result.problem,
            }
        )
        if not result.ok:
            sys.exit(EXIT_INTEGRITY)
        return
    if not result.ok:
        fail(f"the audit log is not intact: first bad entry {result.first_bad}: {result.problem}", EXIT_INTEGRITY)
    against = (
        ""
        if checkpoint_name is None
        else f"; consistent with checkpoint {checkpoint_name} ({result.checkpoint_size} entries)"
    )
    click.echo(
        f"audit log intact: {result.size} entries, root {result.root.hex()[:16]}, "
        f"{result.heads_checked} signed head{'' if result.heads_checked == 1 else 's'} checked{against}"
    )


@log.command(
    "prove",
    epilog=examples("mlwarden log prove 42 -o receipt.json", "mlwarden log prove 42 --checkpoint head.json -o -"),
)
@click.argument("seq", type=click.IntRange(min=0))
@click.option("--checkpoint", "checkpoint_name", metavar="FILE", default=None, help="Prove against this checkpoint.")
@click.option(
    "-o", "--output", "output_name", metavar="FILE", required=True, help="Where to write it, or - for stdout."
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@home_option
@click.pass_obj
def log_prove(ctx: Context, seq: int, checkpoint_name: str | None, output_name: str, force: bool) -> None:
    """Write a proof that entry SEQ is in the signed log (a receipt anyone can check).

    The proof holds the entry, its Merkle audit path and a signed checkpoint (the newest one,
    or FILE): `mlwarden log verify-proof` checks it with only the workspace's verifier key,
    no workspace and no log needed.
    """
    checkpoint = None if checkpoint_name is None else _read_checkpoint(checkpoint_name)
    ws = open_workspace(ctx)
    proof = ws.log.prove(seq, checkpoint)
    _write_json(output_name, force, proof.to_json())
    if output_name != "-":
        click.echo(
            f"proof that entry {seq} is in the log of {proof.checkpoint.size} entries "
            f"({len(proof.path)} hashes), written to {output_name}"
        )


@log.command("verify-proof", epilog=examples("mlwarden log verify-proof receipt.json --key head.json"))
@click.argument("proof_name", metavar="PROOF")
@click.option(
    "--key",
    "key",
    metavar="KEY|FILE",
    required=True,
    help="The workspace's verifier key (verifier_key of a checkpoint), or a checkpoint file you trust.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the proven entry as JSON.")
def log_verify_proof(proof_name: str, key: str, as_json: bool) -> None:
    """Check a proof from `mlwarden log prove` without the workspace: exit 0 if it holds, 3 if not.

    Trust comes from KEY alone, so take it from a checkpoint kept outside the workspace, never
    from the proof itself.
    """
    from mlwarden.auditlog import InclusionProof, NoteVerifier, verify_inclusion_proof

    proof = InclusionProof.from_json(_read_json(proof_name, "proof"))
    key_text = _read_checkpoint(key).verifier_key if Path(key).is_file() else key
    verifier = NoteVerifier.from_key_string(key_text)
    entry = verify_inclusion_proof(proof, verifier)
    if as_json:
        emit_json({"ok": True, "tree_size": proof.checkpoint.size, "entry": entry.to_json()})
        return
    click.echo(
        f"proof holds: entry {entry.seq} ({entry.principal} {entry.outcome} {entry.action} on {entry.resource} "
        f"at {entry.time}) is in the log of {proof.checkpoint.size} entries signed by {verifier.name}"
    )
