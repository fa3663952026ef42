"""``mlwarden explain`` and ``mlwarden model card`` / ``model verify-card``: reasons, importance, signed cards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlwarden.cli._app import Context, cli, emit_json, examples, fail, home_option
from mlwarden.cli._common import open_workspace
from mlwarden.cli._models import model

if TYPE_CHECKING:
    from mlwarden._services._explanations import Explained

_CARD_FORMATS = (".json", ".md", ".html")


def _rows(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        rows = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"--rows {text!r} is not a list of row numbers: write e.g. 0,5,9")
    if not rows or any(r < 0 for r in rows):
        fail(f"--rows {text!r}: give row numbers from 0, separated by commas")
    return rows


def _instances(path: Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"--instance {path}: cannot read it ({exc.strerror})")
    except (UnicodeDecodeError, ValueError):
        fail(f'--instance {path} is not JSON: write {{"column": value, ...}} or a list of such objects')
    if isinstance(doc, dict) and "instances" in doc:
        doc = doc["instances"]
    items = doc if isinstance(doc, list) else [doc]
    if not items or not all(isinstance(i, dict) for i in items):
        fail(f'--instance {path} must hold an object {{"column": value}} or a list of objects')
    return items


@cli.command(
    "explain",
    epilog=examples(
        "mlwarden explain credit-lr --data credit-german --rows 0,5,9",
        "mlwarden explain credit-lr@2 --instance applicant.json --json",
        "mlwarden explain credit-rf --data credit-german --importance",
    ),
)
@click.argument("ref", metavar="MODEL[@V]")
@click.option("--data", metavar="NAME[@V]", default=None, help="Explain rows of this workspace dataset.")
@click.option("--rows", metavar="0,5,9", default=None, help="Which rows of --data (default: all).")
@click.option(
    "--instance",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Explain the instance(s) in this JSON file instead.",
)
@click.option("--importance", is_flag=True, help="Show only the global importance (mean |contribution| per column).")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@home_option
@click.pass_obj
def explain(
    ctx: Context,
    ref: str,
    data: str | None,
    rows: str | None,
    instance: Path | None,
    importance: bool,
    as_json: bool,
) -> None:
    """Explain a registered model's decisions exactly: per-column contributions and reason codes.

    \b
    Each row's contributions add up, with the base value, to the model's own output (log-odds of
    the positive class; a forest's probability), checked to 1e-6. Reasons are the at most four
    columns pushing hardest toward the adverse class (train --adverse-class), with their texts.
    """
    from mlwarden.store import parse_ref

    if (data is None) == (instance is None):
        fail("give --data NAME[@V] (rows of a dataset) or --instance FILE.json, one of the two")
    if rows is not None and data is None:
        fail("--rows goes with --data")
    name, version = parse_ref(ref, "model")
    ws = open_workspace(ctx)
    if data is not None:
        found = ws.explanations.explain(name, version, data=parse_ref(data), rows=_rows(rows))
    else:
        assert instance is not None
        found = ws.explanations.explain(name, version, instances=_instances(instance))
    if as_json:
        doc = found.to_json()
        if importance:
            doc.pop("explanations")
        emit_json(doc)
        return
    _show(found, importance_only=importance)


def _show(found: Explained, *, importance_only: bool) -> None:
    click.echo(
        f"{found.model}: contributions in {found.units} of {found.explained_class!r}, "
        f"relative to {found.background.get('rows')} background rows ({found.background.get('rule')}); "
        f"base {found.base:.4f}"
    )
    if not importance_only:
        for row, e in zip(found.rows, found.explanations, strict=True):
            click.echo(f"row {row}: output {e['output']:.4f}")
            if not e["reasons"]:
                click.echo("  no column pushed toward the adverse class")
            for r in e["reasons"]:
                click.echo(f"  {r['contribution']:+.4f}  {r['column']} = {r['value']!r}: {r['text']}")
    click.echo(f"global importance (mean |contribution| over {len(found.rows)} rows):")
    for column, value in found.importance[:20]:
        click.echo(f"  {value:8.4f}  {column}")


@model.command(
    "card",
    epilog=examples(
        "mlwarden model card credit-lr@1 -o card.json --protected age --protected personal_status_sex",
        "mlwarden model card credit-lr -o card.html --purpose 'Consumer credit pre-screening'",
    ),
)
@click.argument("ref", metavar="MODEL[@V]")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="card.json (signed), card.md or card.html.",
)
@click.option("--protected", multiple=True, metavar="COL", help="Report fairness for this column (numeric: binned).")
@click.option("--bins", "bins", multiple=True, metavar="COL=E1,E2,..", help="Bin edges of a numeric protected column.")
@click.option("--purpose", default=None, help="Intended use: what the model is for.")
@click.option("--users", default=None, help="Intended use: who uses its decisions.")
@click.option("--out-of-scope", default=None, help="Uses it is not meant for.")
@click.option("--limitations", default=None, help="Known limits a deployer should know.")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@home_option
@click.pass_obj
def model_card(
    ctx: Context,
    ref: str,
    output: Path,
    protected: tuple[str, ...],
    bins: tuple[str, ...],
    purpose: str | None,
    users: str | None,
    out_of_scope: str | None,
    limitations: str | None,
    force: bool,
) -> None:
    """Write a model's card: provenance, metrics with intervals, calibration, importance, fairness,
    the data audit and the signature evidence. The JSON card is signed (an in-toto statement about
    the model's digest, in a DSSE envelope); .md and .html are renderings of it."""
    from mlwarden._fsio import atomic_create, atomic_write
    from mlwarden.explain import render_html, render_markdown
    from mlwarden.store import parse_ref

    suffix = output.suffix.lower()
    if suffix not in _CARD_FORMATS:
        fail(f"-o {output}: write the card to a .json, .md or .html file")
    if output.exists() and not force:
        fail(f"{output} exists; remove it or give --force")
    if not output.parent.is_dir():
        fail(f"the folder of {output} does not exist")
    edges: dict[str, list[float]] = {}
    for entry in bins:
        column, sep, values = entry.partition("=")
        try:
            edges[column] = [float(v) for v in values.split(",")]
        except ValueError:
            fail(f"--bins {entry!r}: write COL=E1,E2,... with numbers")
        if not sep or not column:
            fail(f"--bins {entry!r}: write COL=E1,E2,...")
    name, version = parse_ref(ref, "model")
    ws = open_workspace(ctx)
    intended = {"purpose": purpose, "users": users, "out_of_scope": out_of_scope, "limitations": limitations}
    card, envelope = ws.explanations.card(name, version, protected=protected, intended_use=intended, bins=edges or None)
    data = envelope if suffix == ".json" else (render_markdown(card) if suffix == ".md" else render_html(card)).encode()
    (atomic_write if force else atomic_create)(output, data, mode=0o644)
    click.echo(f"wrote the card of {card['model']['ref']} to {output}" + (" (signed)" if suffix == ".json" else ""))
    flagged = [c["column"] for c in ((card.get("fairness") or {}).get("columns") or []) if c.get("four_fifths_flag")]
    if flagged:
        click.echo(f"four-fifths rule flagged for: {', '.join(flagged)}", err=True)


@model.command(
    "verify-card",
    epilog=examples("mlwarden model verify-card card.json", "mlwarden model verify-card card.json --key model-key.pem"),
)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Verify with this PEM public key, without a workspace (the registry check is skipped).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was verified as JSON.")
@home_option
@click.pass_obj
def model_verify_card(ctx: Context, path: Path, key: Path | None, as_json: bool) -> None:
    """Check a signed model card: exit 0, or 3 on any change, an unknown or revoked key, or a card that
    names another model than the workspace holds under that name and version."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read it ({exc.strerror})")
    if key is not None:
        from mlwarden.explain import verify_card_with_key
        from mlwarden.models._serialize import load_public_key

        signed = verify_card_with_key(data, load_public_key(key))
    else:
        ws = open_workspace(ctx)
        signed = ws.explanations.verify_card(data)
    if as_json:
        emit_json({"verified": True, "model": signed.subject, "sha256": signed.sha256, "key_id": signed.key_id})
    else:
        click.echo(
            f"verified: the card of {signed.subject} (sha256 {signed.sha256[:16]}...) by key {signed.key_id[:16]}"
        )
