"""``mlwarden audit``: audits of training data (poisoning, label errors, conflicting duplicates).

``audit data`` runs the audit of a dataset version for a target column, or reads back the stored
one (same version, target and settings), and exits 1 when it has findings; ``audit accept`` lets a
steward accept findings with a reason, so that ``mlwarden train --accept-findings`` may go on.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import click

from mlwarden.cli._app import (
    EXIT_FINDINGS,
    Context,
    HelpfulGroup,
    cli,
    emit_json,
    examples,
    home_option,
    show_help_if_bare,
)
from mlwarden.cli._common import open_output, open_workspace

if TYPE_CHECKING:
    from mlwarden._services import DataAudit
    from mlwarden.audit import DataAuditReport

_SHOWN_ROWS = 10


@cli.group(
    cls=HelpfulGroup,
    epilog=examples("mlwarden audit data credit-german --target creditability"),
)
@home_option
@click.pass_context
def audit(ctx: click.Context) -> None:
    """Audits: training data for poisoning, label errors and conflicting duplicates."""
    show_help_if_bare(ctx)


@audit.command(
    "data",
    epilog=examples(
        "mlwarden audit data credit-german --target creditability",
        "mlwarden audit data credit-german@2 --target creditability --json --scores scores.csv",
    ),
)
@click.argument("ref", metavar="NAME[@V]")
@click.option("--target", required=True, metavar="COL", help="The label column the model will learn.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option(
    "--scores",
    "scores",
    metavar="FILE",
    default=None,
    help="Write a CSV 'row,score': a line per dataset row (0-based, the dataset's order); higher = more suspicious.",
)
@click.option("--force", is_flag=True, help="Replace an existing --scores file.")
@home_option
@click.pass_obj
def audit_data(ctx: Context, ref: str, target: str, as_json: bool, scores: str | None, force: bool) -> None:
    """Audit a dataset version before training: exit 0 no findings, 1 findings.

    \b
    Finds rows whose labels look wrong (out-of-fold probabilities, neighbourhood disagreement),
    backdoor triggers (rare value patterns over any columns tied to one label, named with their
    rows, support and lift; representation outliers) and duplicates with conflicting labels.
    The result is stored encrypted in the workspace and reused for the same version, target and
    settings; the action is in the audit log.
    """
    from mlwarden.store import parse_ref

    name, version = parse_ref(ref)
    ws = open_workspace(ctx)
    found = ws.data_audits.run(name, target, version=version)
    report = ws.data_audits.report(found)
    if scores is not None:
        _write_scores(scores, report, force=force)
    if as_json:
        emit_json({"audit": found.to_json(), "report": _report_json(report)})
    else:
        _show(found, report)
    if found.findings:
        raise SystemExit(EXIT_FINDINGS)


@audit.command(
    "accept",
    epilog=examples(
        "mlwarden audit accept credit-german@2 --target creditability --reason 'rows checked with the branch'",
    ),
)
@click.argument("ref", metavar="NAME[@V]")
@click.option("--target", required=True, metavar="COL", help="The label column the audit was run for.")
@click.option("--reason", required=True, metavar="TEXT", help="Why the findings are accepted (recorded).")
@click.option("--json", "as_json", is_flag=True, help="Print the audit record as JSON.")
@home_option
@click.pass_obj
def audit_accept(ctx: Context, ref: str, target: str, reason: str, as_json: bool) -> None:
    """Accept an audit's findings, with a reason (stewards and admins: dataset.accept-findings).

    \b
    `mlwarden train --accept-findings` may then train on the version as it is; the model's signed
    provenance names who accepted, when and why.
    """
    from mlwarden.store import parse_ref

    name, version = parse_ref(ref)
    ws = open_workspace(ctx)
    found = ws.data_audits.run(name, target, version=version)
    accepted = ws.data_audits.accept(found, reason=reason)
    if as_json:
        emit_json(accepted.to_json())
        return
    click.echo(f"accepted the findings of the audit of {accepted.ref} (target {accepted.target!r})", err=True)


def _report_json(report: DataAuditReport) -> dict[str, Any]:
    data = report.to_json()
    data.pop("scores", None)  # one per row: in --scores, not on the terminal
    return data


def _write_scores(name: str, report: DataAuditReport, *, force: bool) -> None:
    text = io.StringIO()
    text.write("row,score\n")
    for row, score in enumerate(report.scores):
        text.write(f"{row},{score:.6g}\n")
    with open_output(name, force=force, mode=0o600) as out:
        out.write(text.getvalue().encode())
    click.echo(f"wrote {len(report.scores)} scores to {name}", err=True)


def _show(found: DataAudit, report: DataAuditReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    reused = " (stored audit)" if found.reused else ""
    verdict = "[bold red]findings[/]" if found.findings else "[bold green]no findings[/]"
    console.print(f"audit of {found.ref}, target {found.target!r}: {verdict}{reused}")
    console.print(f"  {report.summary()}")
    if report.patterns:
        table = Table(
            "#", "pattern", "label", "rows", "support", "lift", title="trigger patterns", title_justify="left"
        )
        for i, pattern in enumerate(report.patterns, 1):
            table.add_row(
                str(i),
                pattern.describe(),
                str(pattern.label),
                str(len(pattern.rows)),
                str(pattern.support),
                f"{pattern.lift:.1f}",
            )
        console.print(table)
    if report.duplicate_conflicts:
        console.print(f"  {len(report.duplicate_conflicts)} group(s) of duplicates with conflicting labels")
    if report.flagged:
        ranked = sorted(report.flagged, key=lambda r: -report.scores[r])
        table = Table(
            "row",
            "score",
            "reasons",
            title=f"flagged rows ({len(report.flagged)}; highest first)",
            title_justify="left",
        )
        named = {
            f"carries the trigger pattern {p.describe()}": f"trigger pattern {i}"
            for i, p in enumerate(report.patterns, 1)
        }
        for row in ranked[:_SHOWN_ROWS]:
            reasons = [named.get(reason, reason) for reason in report.reasons.get(row, ())]
            table.add_row(str(row), f"{report.scores[row]:.3f}", "; ".join(reasons))
        console.print(table)
        if len(ranked) > _SHOWN_ROWS:
            console.print(f"  ... and {len(ranked) - _SHOWN_ROWS} more: see --json or --scores")
    if found.accepted:
        console.print(f"  accepted by {found.accepted_by} at {found.accepted_at}: {found.accepted_reason}")
    elif found.findings:
        console.print(
            "  train with --exclude-flagged, or have a steward accept them "
            f"(mlwarden audit accept {found.ref} --target {found.target} --reason ...)"
        )
