"""``mlwarden monitor``: drift of data and live traffic, performance over time, stored reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mlwarden.cli._app import (
    EXIT_FINDINGS,
    HelpfulGroup,
    cli,
    emit_json,
    examples,
    fail,
    home_option,
    show_help_if_bare,
)
from mlwarden.cli._common import open_workspace, progress_bar

if TYPE_CHECKING:
    from mlwarden._workspace import Workspace
    from mlwarden.monitor import DriftReport

_SEVERITIES = ("minor", "moderate", "major")


@cli.group(
    cls=HelpfulGroup,
    epilog=examples(
        "mlwarden monitor drift credit-risk --data loans-2026-11",
        "mlwarden monitor performance credit-risk --data loans-labelled",
    ),
)
@home_option
@click.pass_context
def monitor(ctx: click.Context) -> None:
    """Drift of data and live traffic against a model's reference; performance; stored reports."""
    show_help_if_bare(ctx)


def _rows_of(ws: Workspace, ref: tuple[str, int | None]) -> int | None:
    try:
        return int(ws.datasets.info(*ref).rows or 0) or None
    except Exception:  # the gated read that follows gives the real error
        return None


@monitor.command(
    "drift",
    epilog=examples(
        "mlwarden monitor drift credit-risk --data loans-2026-11",
        "mlwarden monitor drift credit-risk@3 --live --since 2026-12-01T00:00:00Z --json",
        "mlwarden monitor drift --reference loans@1 --current loans@2",
        "mlwarden monitor drift credit-risk --data loans-2026-11 --retrain",
    ),
)
@click.argument("ref", metavar="[MODEL[@V]]", required=False)
@click.option("--data", metavar="NAME[@V]", default=None, help="Compare the model's reference with this dataset.")
@click.option("--live", is_flag=True, help="Compare it with the traffic the server recorded (drift windows).")
@click.option("--since", metavar="TIME", default=None, help="With --live: windows ending after this ISO 8601 UTC time.")
@click.option("--reference", metavar="NAME@V", default=None, help="No model: the reference dataset version.")
@click.option("--current", metavar="NAME@V", default=None, help="No model: the dataset version to compare with it.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="False-discovery rate over all tests.")
@click.option(
    "--fail-on",
    type=click.Choice(_SEVERITIES),
    default="minor",
    show_default=True,
    help="Exit 1 when drift of at least this severity is found.",
)
@click.option(
    "--retrain", is_flag=True, help="On drift, train a candidate on --data (or --retrain-data); never promote."
)
@click.option("--retrain-data", metavar="NAME[@V]", default=None, help="Labelled data to retrain on (with --live).")
@click.option("--show", type=int, default=15, show_default=True, help="How many findings to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@home_option
@click.pass_obj
def drift(
    ctx: Any,
    ref: str | None,
    data: str | None,
    live: bool,
    since: str | None,
    reference: str | None,
    current: str | None,
    alpha: float,
    fail_on: str,
    retrain: bool,
    retrain_data: str | None,
    show: int,
    as_json: bool,
) -> None:
    """Test for drift: a test per column suited to its type, prediction drift, and changes in the
    dependence between columns, corrected together (Benjamini-Hochberg at --alpha).

    \b
    Effect sizes (PSI, normalised Wasserstein, Jensen-Shannon) are reported apart from the tests:
    a large comparison names even a trivial shift (severity minor) without calling it major.
    Exit 0: no drift (of at least --fail-on); 1: drift. The report is stored encrypted.
    """
    from mlwarden.store import parse_ref

    if not 0 < alpha < 1:
        fail("--alpha must be between 0 and 1, e.g. 0.05")
    if ref is None:
        if reference is None or current is None:
            fail("give MODEL with --data or --live, or --reference NAME@V and --current NAME@V (no model)")
        if data or live or since or retrain or retrain_data:
            fail("--reference/--current compare two datasets: --data, --live, --since and --retrain need a MODEL")
        ws = open_workspace(ctx)
        ref_ref, cur_ref = parse_ref(reference), parse_ref(current)
        with progress_bar(_rows_of(ws, cur_ref), "counting rows", unit="items") as advance:
            result = ws.monitoring.drift_between(ref_ref, cur_ref, alpha=alpha, progress=advance)
        title = f"{reference} -> {current}"
    else:
        if reference is not None or current is not None:
            fail("--reference/--current compare two datasets without a model; with MODEL use --data or --live")
        if (data is None) == (not live):
            fail("give --data NAME[@V] or --live, one of the two")
        if since is not None and not live:
            fail("--since goes with --live")
        if retrain_data is not None and not retrain:
            fail("--retrain-data goes with --retrain")
        if retrain and live and retrain_data is None:
            fail("--retrain with --live needs --retrain-data NAME[@V]: labelled data to train the candidate on")
        name, version = parse_ref(ref, "model")
        ws = open_workspace(ctx)
        if data is not None:
            data_ref = parse_ref(data)
            with progress_bar(_rows_of(ws, data_ref), "counting rows", unit="items") as advance:
                result = ws.monitoring.drift(name, version, data=data_ref, alpha=alpha, progress=advance)
        else:
            result = ws.monitoring.drift(name, version, live=True, since=since, alpha=alpha)
        title = f"{ref} reference -> {data or 'live traffic'}"
    report = result.report
    findings = report.findings(fail_on)
    if not as_json:
        _show(title, report, result.stored.id, findings, show)
    candidate = None
    if retrain and findings:
        assert result.stored.model is not None
        name, champion = parse_ref(result.stored.model, "model")
        train_on = parse_ref(retrain_data or data or "")
        candidate = ws.models.retrain(
            name,
            train_on[0],
            dataset_version=train_on[1],
            champion_version=champion,
            trigger={
                "drift_report": result.stored.id,
                "report_sha256": result.stored.report_sha256,
                "worst": report.worst(),
            },
        )
    if as_json:
        doc = result.to_json()
        if candidate is not None:
            doc["candidate"] = {"ref": candidate.ref, "stage": candidate.stage}
        emit_json(doc)
    elif candidate is not None:
        click.echo(
            f"retrained: {candidate.ref} registered in stage {candidate.stage}; another principal must "
            f"`mlwarden model approve {candidate.ref}` before it can be promoted"
        )
    elif retrain:
        click.echo("no drift of at least --fail-on: nothing retrained")
    if findings:
        raise SystemExit(EXIT_FINDINGS)


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _show(title: str, report: DriftReport, report_id: int, findings: list[Any], show: int) -> None:
    from rich.console import Console
    from rich.table import Table

    summary = report.summary()
    counts = summary["by_severity"]
    verdict = "no drift" if not report.drifted else ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    click.echo(
        f"{title}: {summary['reference_rows']} reference rows, {summary['current_rows']} current rows; "
        f"{summary['columns']} columns and {summary['pairs']} pairs tested (FDR {report.alpha}): {verdict}"
    )
    if report.drifted:
        table = Table(title=None, show_edge=False)
        for heading in ("column", "test", "p", "PSI", "Wasserstein", "JS", "TV", "severity"):
            table.add_column(heading, justify="left" if heading in ("column", "test", "severity") else "right")
        shown = [t for t in report.all_tests() if t.drift]
        shown.sort(key=lambda t: (-("none", *_SEVERITIES).index(t.severity), t.p_value))
        for t in shown[:show]:
            e = t.effect
            table.add_row(
                t.column,
                t.test,
                f"{t.p_value:.2g}",
                _fmt(e.get("psi")),
                _fmt(e.get("wasserstein")),
                _fmt(e.get("jensen_shannon")),
                _fmt(e.get("total_variation")),
                t.severity,
            )
        Console(width=120).print(table)
        if len(shown) > show:
            click.echo(f"... and {len(shown) - show} more (--show N, or --json)")
    if not findings and report.drifted:
        click.echo("(every drift found is below --fail-on)")
    click.echo(f"report {report_id} stored (mlwarden monitor reports)")


@monitor.command(
    "performance",
    epilog=examples(
        "mlwarden monitor performance credit-risk --data loans-labelled",
        "mlwarden monitor performance credit-risk@3 --data loans-labelled@2 --json",
    ),
)
@click.argument("ref", metavar="MODEL[@V]")
@click.option("--data", metavar="NAME[@V]", required=True, help="Labelled data (it holds the model's target).")
@click.option("--rounds", type=int, default=1000, show_default=True, help="Bootstrap resamples for the intervals.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@home_option
@click.pass_obj
def performance(ctx: Any, ref: str, data: str, rounds: int, as_json: bool) -> None:
    """Compare a model's metrics on labelled data with its training-time held-out metrics.

    \b
    Both with percentile-bootstrap 95% intervals, and the interval of their difference: a metric
    is degraded when that interval lies wholly on the worse side. Exit 1 when one is.
    """
    from mlwarden.store import parse_ref

    name, version = parse_ref(ref, "model")
    ws = open_workspace(ctx)
    result = ws.monitoring.performance(name, version, data=parse_ref(data), rounds=rounds)
    if as_json:
        emit_json(result.to_json())
    else:
        doc = result.document
        click.echo(
            f"{doc['model']}: {doc['current']['rows']} labelled rows of {doc['current']['dataset']} vs "
            f"{doc['training']['rows']} held-out rows of {doc['training']['dataset']} (95% bootstrap intervals)"
        )
        for metric, diff in doc["comparison"].items():
            now = doc["current"]["metrics"][metric]
            then = doc["training"]["metrics"][metric]
            flag = "  DEGRADED" if diff["degraded"] else ""
            click.echo(
                f"  {metric:<18} now {_fmt(now['value'])} [{_fmt(now['low'])}, {_fmt(now['high'])}]  "
                f"training {_fmt(then['value'])} [{_fmt(then['low'])}, {_fmt(then['high'])}]  "
                f"difference {diff['difference']:+.4f} [{diff['low']:+.4f}, {diff['high']:+.4f}]{flag}"
            )
        click.echo(f"report {result.stored.id} stored (mlwarden monitor reports)")
    if result.degraded:
        raise SystemExit(EXIT_FINDINGS)


@monitor.command(
    "reports",
    epilog=examples("mlwarden monitor reports", "mlwarden monitor reports --model credit-risk --json"),
)
@click.option("--model", "model_name", metavar="MODEL", default=None, help="Only this model's reports.")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@home_option
@click.pass_obj
def reports(ctx: Any, model_name: str | None, as_json: bool) -> None:
    """List the stored drift and performance reports (counts only; read one with `monitor report`)."""
    ws = open_workspace(ctx)
    found = ws.monitoring.reports(model=model_name)
    if as_json:
        emit_json([r.to_json() for r in found])
        return
    if not found:
        click.echo("no monitoring reports yet")
    for r in found:
        worst = r.summary.get("worst") or ",".join(r.summary.get("degraded", [])) or "-"
        click.echo(
            f"{r.id:>5}  {r.created_at}  {r.kind:<11}  {r.reference} -> {r.current}  "
            f"{'FINDINGS' if r.findings else 'ok'} ({worst})  by {r.created_by}"
        )


@monitor.command("report", epilog=examples("mlwarden monitor report 12"))
@click.argument("report_id", metavar="ID", type=int)
@home_option
@click.pass_obj
def report(ctx: Any, report_id: int) -> None:
    """Print one stored report (decrypted, checked against its SHA-256) as JSON."""
    ws = open_workspace(ctx)
    emit_json(ws.monitoring.read_report(report_id))
