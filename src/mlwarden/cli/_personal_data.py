"""``mlwarden data pii / pseudonymise / reidentify / forget / erasures``: personal data in datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mlwarden.cli._app import Context, emit_json, examples, home_option
from mlwarden.cli._common import open_workspace, progress_bar
from mlwarden.cli._data import _ref, data
from mlwarden.errors import BadInput

if TYPE_CHECKING:
    from mlwarden._services._privacy import ColumnClass


def describe_classes(classes: dict[str, ColumnClass]) -> str:
    """One line naming a version's personal-data columns (for ``data put``)."""
    found = [(c, k) for c, k in classes.items() if k.kind is not None]
    if not found:
        return "no personal data found in its columns"
    parts = [f"{c} ({k.kind}{', pseudonymised' if k.source == 'pseudonymised' else ''})" for c, k in found]
    direct = sum(k.direct for _, k in found)
    return f"personal data in {len(found)} column(s), {direct} direct identifier(s): " + ", ".join(parts)


def print_classes(classes: dict[str, ColumnClass]) -> None:
    if not classes:
        click.echo("  (not classified: run `mlwarden data pii NAME --scan`)")
        return
    width = max(len(c) for c in classes)
    for column, k in classes.items():
        kind = k.kind or "-"
        category = k.category or ""
        flags = []
        if k.source != "detected":
            flags.append(k.source)
        if k.allowed_as_feature:
            flags.append("allowed as a feature")
        extra = f"  [{', '.join(flags)}]" if flags else ""
        embedded = f" ({', '.join(k.embedded)})" if k.embedded else ""
        click.echo(f"  {column.ljust(width)}  {kind + embedded:<22} {category:<13} {k.confidence:.2f}{extra}")


def _pair(text: str, what: str) -> tuple[str, str]:
    column, sep, value = text.partition("=")
    if not sep or not column.strip() or not value.strip():
        raise BadInput(f"{what} {text!r} is not COLUMN=VALUE")
    return column.strip(), value.strip()


@data.command(
    epilog=examples(
        "mlwarden data pii customers",
        "mlwarden data pii customers@2 --json",
        "mlwarden data pii customers --scan",
        "mlwarden data pii customers --set notes=free_text --reason 'holds e-mails'",
        "mlwarden data pii customers --allow postcode --reason 'approved by the DPO, ticket 123'",
    )
)
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("--scan", is_flag=True, help="Classify the columns again from a fresh sample (reads the data).")
@click.option(
    "--set",
    "set_class",
    metavar="COLUMN=KIND",
    default=None,
    help="Correct a column's class for every version (KIND: a kind listed by --kinds, or none).",
)
@click.option("--allow", metavar="COLUMN", default=None, help="Let a direct identifier be trained on.")
@click.option("--disallow", metavar="COLUMN", default=None, help="Take back an --allow.")
@click.option("--reason", metavar="TEXT", default=None, help="Why (with --set and --allow; kept in the log).")
@click.option("--kinds", "show_kinds", is_flag=True, help="List the kinds of personal data and exit.")
@click.option("--json", "as_json", is_flag=True, help='Print {"pii": {COLUMN: {...}}} as JSON.')
@home_option
@click.pass_obj
def pii(
    ctx: Context,
    ref: str,
    scan: bool,
    set_class: str | None,
    allow: str | None,
    disallow: str | None,
    reason: str | None,
    show_kinds: bool,
    as_json: bool,
) -> None:
    """Show the personal-data class of each column of a version: kind, category, confidence.

    Classes are found when a version is put, from each column's name and a sample of its values.
    A steward corrects one with --set (for every version of the dataset) and lets a direct
    identifier be trained on with --allow; both need --reason and are audited.
    """
    if show_kinds:
        from mlwarden.privacy._detect import PII_KINDS

        for kind, category in PII_KINDS.items():
            click.echo(f"{kind:<16} {category}")
        return
    if sum(x is not None for x in (set_class, allow, disallow)) + scan > 1:
        raise BadInput("give one of --scan, --set, --allow and --disallow")
    name, version = _ref(ref)
    ws = open_workspace(ctx)
    if set_class is not None:
        if version is not None:
            raise BadInput("--set applies to every version of a dataset: give NAME, not NAME@VERSION")
        column, kind = _pair(set_class, "--set")
        ws.privacy.set_class(name, column, kind, reason=reason or "")
        click.echo(f"mlwarden: {name}: column {column} is now {kind} for every version", err=True)
    elif allow is not None or disallow is not None:
        if version is not None:
            raise BadInput("--allow applies to every version of a dataset: give NAME, not NAME@VERSION")
        column = allow or disallow or ""
        ws.privacy.allow_feature(name, column, reason=reason or "", allow=allow is not None)
        verb = "may now be" if allow is not None else "may no longer be"
        click.echo(f"mlwarden: {name}: column {column} {verb} trained on", err=True)
    classes = ws.privacy.discover(name, version) if scan else ws.privacy.columns(name, version)
    info = ws.datasets.info(name, version)
    if as_json:
        emit_json({"dataset": info.ref, "pii": {c: k.to_json() for c, k in classes.items()}})
        return
    click.echo(f"{info.ref}: {describe_classes(classes)}")
    print_classes(classes)


@data.command(
    epilog=examples(
        "mlwarden data pseudonymise customers --columns email,iban",
        "mlwarden data pseudonymise customers@3 --columns email --generalise age=10,postcode=3 --name customers-pz",
        "mlwarden data pseudonymise customers --columns customer_id --reversible",
    )
)
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("--columns", default="", metavar="A,B", help="Columns whose values become keyed tokens.")
@click.option(
    "--generalise",
    default="",
    metavar="COL=LEVEL,...",
    help="Generalise quasi-identifiers: numbers into bins of LEVEL, text to its first LEVEL characters, "
    "dates to LEVEL-year spans.",
)
@click.option("--name", "new_name", default=None, help="Write the new version to this dataset (default: NAME).")
@click.option(
    "--reversible", is_flag=True, help="Tokens a holder of dataset.reidentify can turn back into values (AES-SIV)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@home_option
@click.pass_obj
def pseudonymise(
    ctx: Context, ref: str, columns: str, generalise: str, new_name: str | None, reversible: bool, as_json: bool
) -> None:
    """Write a new version with keyed tokens in place of the values of --columns, and generalised
    quasi-identifiers, reporting the k-anonymity that results.

    Tokens are deterministic under the workspace's pseudonymisation key (`mlwarden keys
    pseudonym`), so joins across datasets pseudonymised with the same key still work. No original
    value of a tokenised or generalised column is left in the new version.
    """
    name, version = _ref(ref)
    names = [c.strip() for c in columns.split(",") if c.strip()]
    ws = open_workspace(ctx)
    done = ws.privacy.pseudonymise(
        name, version, columns=names, generalise=generalise, new_name=new_name, reversible=reversible
    )
    if as_json:
        emit_json(done.to_json())
        return
    click.echo(f"{done.version.ref}  sha256:{done.version.sha256}")
    parts = []
    if done.tokenised:
        parts.append(f"tokenised {', '.join(done.tokenised)} (key {done.key}{', reversible' if reversible else ''})")
    if done.generalised:
        parts.append(f"generalised {', '.join(done.generalised)}")
    click.echo(f"mlwarden: {done.source.ref} -> {done.version.ref}: {'; '.join(parts)}", err=True)
    if done.k_anonymity is None:
        click.echo("mlwarden: no quasi-identifiers left to measure k-anonymity over", err=True)
    else:
        below = ", ".join(f"{n} row(s) in classes smaller than {k}" for k, n in sorted(done.rows_below.items()))
        click.echo(
            f"mlwarden: k-anonymity {done.k_anonymity} over {', '.join(done.quasi_identifiers)} ({below})", err=True
        )


@data.command(epilog=examples("mlwarden data reidentify pr1_Qk3... --reason 'court order 2026-17'"))
@click.argument("tokens", nargs=-1, required=True, metavar="TOKEN...")
@click.option("--reason", metavar="TEXT", required=True, help="Why (kept in the log with each token's digest).")
@click.option("--json", "as_json", is_flag=True, help='Print [{"token", "value"}] as JSON.')
@home_option
@click.pass_obj
def reidentify(ctx: Context, tokens: tuple[str, ...], reason: str, as_json: bool) -> None:
    """Print the values behind reversible pseudonyms (permission dataset.reidentify; each is audited)."""
    ws = open_workspace(ctx)
    values = ws.privacy.reidentify(list(tokens), reason=reason)
    if as_json:
        emit_json([{"token": t, "value": v} for t, v in zip(tokens, values, strict=True)])
        return
    for token, value in zip(tokens, values, strict=True):
        click.echo(f"{token}\t{value}")


@data.command(
    epilog=examples(
        "mlwarden data forget --subject email=jane@example.com --dry-run",
        "mlwarden data forget --subject email=jane@example.com --subject customer_id=C-1042",
        "mlwarden data forget --subject iban=DE89370400440532013000 --dataset payments --json",
    )
)
@click.option(
    "--subject",
    "subjects",
    multiple=True,
    required=True,
    metavar="COLUMN=VALUE",
    help="How the person is found: a column and their value in it (repeatable: rows matching any).",
)
@click.option("--dataset", default=None, help="Only this dataset (default: every dataset).")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@home_option
@click.pass_obj
def forget(ctx: Context, subjects: tuple[str, ...], dataset: str | None, dry_run: bool, as_json: bool) -> None:
    """Erase a person everywhere: every version holding their rows (in clear or as their token) is
    replaced by a successor without them and crypto-shredded; models trained on it are flagged.

    The log records the request under a keyed hash of the subject, never the value. A run stopped
    at any point is completed by running the same command again.
    """
    pairs = [_pair(s, "--subject") for s in subjects]
    ws = open_workspace(ctx)
    with progress_bar(None, "searching", unit="versions") as advance:

        def progress(done: int, total: int, ref: str) -> None:
            if advance is not None:
                advance(1)

        outcome = ws.privacy.forget(pairs, dataset=dataset, dry_run=dry_run, progress=progress)
    if as_json:
        emit_json(outcome.to_json())
        return
    verb = "would remove" if dry_run else "removed"
    click.echo(f"subject {outcome.subject[:16]} (keyed hash): searched {outcome.searched} version(s)")
    for v in outcome.versions:
        rows = "?" if v.matched < 0 else str(v.matched)
        if dry_run:
            click.echo(f"  {v.ref}: {rows} row(s) would be removed; the version would be shredded")
        else:
            click.echo(f"  {v.ref}: {rows} row(s) removed -> {v.successor or '-'}; {v.ref} shredded")
    for ref in outcome.unsearchable:
        click.echo(f"  {ref}: could not be read as a table: not searched", err=True)
    for ref in outcome.models:
        where = "a version that would be erased" if dry_run else "an erased version"
        click.echo(f"  model {ref} was trained on {where}: retrain it")
    click.echo(
        f"mlwarden: {verb} {outcome.rows} row(s) from {len(outcome.versions)} version(s); "
        f"{len(outcome.models)} model(s) to retrain",
        err=True,
    )


@data.command(epilog=examples("mlwarden data erasures", "mlwarden data erasures --json"))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@home_option
@click.pass_obj
def erasures(ctx: Context, as_json: bool) -> None:
    """List erasure requests: the subject's keyed hash, who, when, what was removed."""
    ws = open_workspace(ctx)
    found = ws.privacy.erasures()
    if as_json:
        emit_json([e.to_json() for e in found])
        return
    if not found:
        click.echo("no erasure requests yet", err=True)
    for e in found:
        state = "running (re-run to finish)" if e.finished_at is None else f"done {e.finished_at}"
        summary = e.summary or {}
        click.echo(
            f"{e.id:>4}  {e.subject[:16]}  {','.join(e.columns)}  started {e.started_at} by {e.started_by}  {state}  "
            f"versions={summary.get('versions', '-')} rows={summary.get('rows', '-')} "
            f"models={summary.get('models', '-')}"
        )
