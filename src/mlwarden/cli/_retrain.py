"""``mlwarden retrain`` and ``mlwarden model approve``: governed retraining and four-eyes promotion."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from mlwarden.cli._app import Context, cli, emit_json, examples, fail, home_option
from mlwarden.cli._common import open_workspace
from mlwarden.cli._models import model, show_version

if TYPE_CHECKING:
    from mlwarden.models._registry import ModelVersion

FINDINGS_POLICIES = ["refuse", "exclude", "accept"]


@cli.command(
    "retrain",
    epilog=examples(
        "mlwarden retrain credit-risk --data credit-german@3",
        "mlwarden retrain credit-risk --data credit-german --champion 2 --on-findings exclude --json",
    ),
)
@click.argument("name", metavar="MODEL")
@click.option("--data", "data", metavar="NAME[@V]", required=True, help="The new workspace dataset to train on.")
@click.option("--champion", "champion", type=int, default=None, metavar="V", help="Compare with this version.")
@click.option(
    "--on-findings",
    type=click.Choice(FINDINGS_POLICIES),
    default="refuse",
    show_default=True,
    help="If the data's audit has findings: refuse, exclude the flagged rows, or accept them.",
)
@click.option("--reason", metavar="TEXT", default=None, help="Why the findings are accepted (with accept).")
@click.option("--json", "as_json", is_flag=True, help="Print the candidate version (with its comparison) as JSON.")
@home_option
@click.pass_obj
def retrain(
    ctx: Context,
    name: str,
    data: str,
    champion: int | None,
    on_findings: str,
    reason: str | None,
    as_json: bool,
) -> None:
    """Train a candidate to replace MODEL's production version, with the champion's recipe.

    \b
    The recipe (estimator, target, held-out share, seed, explanation settings) is read from
    the champion's signed provenance; the new data must have the champion's columns. The data
    is audited first, as for `mlwarden train` (exit 1 on findings unless --on-findings exclude
    or accept). Champion and challenger are scored on the challenger's held-out rows, with
    paired 95 % bootstrap intervals of each difference; the comparison is signed into the
    candidate's provenance. The candidate is registered in stage candidate: it reaches
    production only once another principal approves it (`mlwarden model approve`) and a
    deployer promotes it. The production version is left as it is.
    """
    from mlwarden.errors import BadInput
    from mlwarden.store import parse_ref

    if reason is not None and on_findings != "accept":
        raise BadInput("--reason goes with --on-findings accept")
    dataset, version = parse_ref(data)
    ws = open_workspace(ctx)
    info = ws.models.retrain(
        name,
        dataset,
        dataset_version=version,
        champion_version=champion,
        on_findings=on_findings,
        reason=reason,
    )
    if as_json:
        emit_json(info.to_json())
        return
    _show_comparison(info)
    show_version(info)
    click.echo(
        f"next: another principal reviews and approves it (`mlwarden model approve {info.ref}`), "
        f"then a deployer promotes it (`mlwarden model promote {info.ref} --stage production`)",
        err=True,
    )


def _show_comparison(info: ModelVersion) -> None:
    """The comparison table of a candidate (stdout): each metric, both models, the paired difference."""
    from rich.console import Console
    from rich.table import Table

    record = info.provenance.get("retrain")
    if not isinstance(record, Mapping):
        return
    champion, held = record.get("champion") or {}, record.get("held_out") or {}
    compared = record.get("comparison") or {}
    data = held.get("dataset") or {}
    table = Table(
        title=(
            f"{compared.get('rows')} held-out rows of {data.get('name')}@{data.get('version')} "
            "(95 % intervals, paired bootstrap)"
        ),
        title_justify="left",
    )
    for header in ("metric", "better", f"champion {champion.get('ref')}", f"challenger {info.ref}", "difference"):
        table.add_column(header, no_wrap=True)
    table.add_column("finding")
    for metric, row in (compared.get("metrics") or {}).items():
        finding = str(row.get("finding"))
        style = {"challenger better": "green", "challenger worse": "red"}.get(finding)
        table.add_row(
            metric,
            str(row.get("better")),
            _interval(row.get("champion")),
            _interval(row.get("challenger")),
            _interval(row.get("difference"), signed=True),
            f"[{style}]{finding}[/]" if style else finding,
        )
    # Piped or redirected, the table keeps its rows on one line each (rich would fold them at 80 columns).
    console = Console() if sys.stdout.isatty() else Console(width=160)
    console.print(table)
    if held.get("champion_may_have_seen"):
        console.print(
            "  the new data is not the champion's training data: the champion may have seen some of these rows"
        )


def _interval(found: Any, *, signed: bool = False) -> str:
    if not isinstance(found, Mapping) or found.get("value") is None:
        return "-"
    spec = "+.4f" if signed else ".4f"
    low, high = found.get("low"), found.get("high")
    shown = format(found["value"], spec)
    if low is None or high is None:
        return shown
    return f"{shown} [{format(low, spec)}, {format(high, spec)}]"


@model.command(
    "approve",
    epilog=examples(
        "mlwarden model approve credit-risk@4",
        'mlwarden model approve credit-risk@4 --note "validation report VR-112" --json',
    ),
)
@click.argument("ref", metavar="NAME@V")
@click.option("--note", metavar="TEXT", default=None, help="What was reviewed (kept with the approval).")
@click.option("--json", "as_json", is_flag=True, help="Print the approval as JSON.")
@home_option
@click.pass_obj
def model_approve(ctx: Context, ref: str, note: str | None, as_json: bool) -> None:
    """Approve a model version for production (four eyes: never one you trained or registered).

    \b
    The version is verified (signature, digest, scan) and the approval bound to its SHA-256.
    `mlwarden model promote NAME@V --stage production` needs one approval by a principal who
    neither trained nor registered the version and who still may approve it.
    """
    from mlwarden.store import parse_ref

    name, version = parse_ref(ref, "model")
    if version is None:
        fail(f"say which version to approve: {name}@N (see `mlwarden model info {name}`)")
    ws = open_workspace(ctx)
    approval = ws.models.approve(name, version, note=note)
    if as_json:
        emit_json(approval.to_json())
        return
    click.echo(f"approved {approval.ref} (sha256 {approval.sha256[:16]}...) as {approval.approved_by}")
