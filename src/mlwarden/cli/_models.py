"""``mlwarden model`` and ``mlwarden train``: scan, sign, verify, and the encrypted model registry
(``model approve`` and ``retrain`` are in :mod:`mlwarden.cli._retrain`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mlwarden.cli._app import (
    Context,
    HelpfulGroup,
    cli,
    emit_json,
    examples,
    fail,
    home_option,
    show_help_if_bare,
)
from mlwarden.cli._common import human_size, late_progress_bar, open_output, open_workspace

if TYPE_CHECKING:
    from mlwarden.models import Approval, ScanReport, VerifiedModel
    from mlwarden.models._registry import ModelVersion

STAGE_NAMES = ["staging", "production", "archived"]
ESTIMATOR_NAMES = ["logistic", "random-forest", "gradient-boosting"]


@cli.group(
    cls=HelpfulGroup,
    epilog=examples("mlwarden model scan model.pkl", "mlwarden model ls"),
)
@home_option
@click.pass_context
def model(ctx: click.Context) -> None:
    """Model security: scan, sign, verify; the registry: ls, info, approve, promote, export; signing keys."""
    show_help_if_bare(ctx)


# -- scan ----------------------------------------------------------------------------------------


@model.command(
    "scan", epilog=examples("mlwarden model scan model.pkl checkpoints/", "mlwarden model scan model.pt --json")
)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def model_scan(paths: tuple[str, ...], as_json: bool) -> None:
    """Scan model files and folders without running them; decides by allow-list.

    \b
    Exit 0 clean; 1 findings (whatever else happened: files that could not be scanned are still
    listed); 2 nothing found but a file could not be scanned (unreadable or unsupported).
    """
    from mlwarden.models import scan

    with late_progress_bar() as start:
        report = scan(paths, start_progress=start)
    if as_json:
        emit_json(report.to_json())
    else:
        _print_scan(report)
    sys.exit(report.exit_code)


def _print_scan(report: ScanReport) -> None:
    for file in report.files:
        status = "clean" if file.clean else ("error" if file.error else f"{len(file.findings)} finding(s)")
        click.echo(f"{file.path}  [{file.format}, {human_size(file.size)}]  {status}")
        for finding in sorted(file.findings, key=lambda f: -f.severity):
            where = f"{finding.inner}@{finding.offset}" if finding.inner else f"@{finding.offset}"
            where = where if finding.offset is not None else (finding.inner or "-")
            click.echo(f"  {finding.severity.name:<8} {finding.kind:<16} {finding.name}  ({where})")
            click.echo(f"           {finding.detail}")
        if file.error:
            click.echo(f"  ERROR    {file.error}")
    severities = sorted({f.severity for f in report.findings}, reverse=True)
    counts = ", ".join(f"{report.count(s)} {s.name}" for s in severities)
    summary = f"{len(report.files)} file(s), {human_size(sum(f.size for f in report.files))} in {report.seconds:.2f} s"
    click.echo(
        f"{summary}: "
        + (f"{len(report.findings)} finding(s) ({counts})" if report.findings else "no findings")
        + (f", {len(report.errors)} not scanned" if report.errors else ""),
        err=True,
    )


# -- sign, verify, keys --------------------------------------------------------------------------


@model.command(
    "sign",
    epilog=examples(
        "mlwarden model sign my-model/ --dataset credit-german@2",
        "mlwarden model sign model.skops -o model.sig --provenance run.json --json",
    ),
)
@click.argument("path", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), help="Signature file (default PATH.sig).")
@click.option("--force", is_flag=True, help="Overwrite the signature file if it exists.")
@click.option("--dataset", metavar="NAME[@V]", help="Record this workspace dataset version (and SHA-256) as the data.")
@click.option(
    "--provenance",
    "provenance_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON object of further provenance (code version, parameters, metrics...).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the signature's path and the key as JSON.")
@home_option
@click.pass_obj
def model_sign(
    ctx: Context,
    path: Path,
    output: Path | None,
    force: bool,
    dataset: str | None,
    provenance_file: Path | None,
    as_json: bool,
) -> None:
    """Sign a model file or folder (OpenSSF model-signing format) with its provenance."""
    from mlwarden.store import parse_ref

    provenance: dict[str, Any] = {}
    if provenance_file is not None:
        try:
            provenance = json.loads(provenance_file.read_text())
        except (ValueError, UnicodeDecodeError):
            fail(f"{provenance_file} is not JSON")
        if not isinstance(provenance, dict):
            fail(f"{provenance_file} must hold a JSON object")
    ref = parse_ref(dataset) if dataset is not None else None
    ws = open_workspace(ctx)
    signature, key = ws.models.sign_file(path, signature=output, provenance=provenance, dataset=ref, force=force)
    if as_json:
        emit_json({"path": str(path), "signature": str(signature), "key_id": key.key_id})
        return
    click.echo(f"signed {path} with key {key.key_id[:12]} -> {signature}", err=True)


@model.command(
    "verify",
    epilog=examples(
        "mlwarden model verify out/credit-risk.skops --key signer.pem",
        "mlwarden model verify credit-risk@3 --json",
    ),
)
@click.argument("target", metavar="PATH|NAME[@V]")
@click.option("--signature", "signature", type=click.Path(path_type=Path), help="Signature file (default PATH.sig).")
@click.option(
    "--key",
    "key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify with this PEM public key alone (no workspace needed).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was verified as JSON.")
@home_option
@click.pass_obj
def model_verify(ctx: Context, target: str, signature: Path | None, key: Path | None, as_json: bool) -> None:
    """Verify a signed model file or folder, or a registered model; exit 0, else 3.

    \b
    A changed byte, an added, removed or renamed file, or an unknown or revoked key fail.
    --json prints one shape for both forms: verified, path (the file form) or model
    (NAME@V of the registry form; the other is null), model_name, sha256 (of a single-file
    model, else null), root_digest, key_id, files [{name, sha256}], provenance.
    """
    from mlwarden.models._files import verify_path

    path = Path(target)
    if not path.exists() and signature is None and key is None:
        _verify_registered(ctx, target, as_json)
        return
    if key is not None:
        verified = verify_path(path, signature=signature, public_key=key)
    else:
        verified = open_workspace(ctx).models.verify_file(path, signature=signature)
    if as_json:
        emit_json(_verified_json(verified, path=str(path)))
    else:
        click.echo(f"verified {path}: {len(verified.files)} file(s) signed by key {verified.key_id[:12]}", err=True)


def _verify_registered(ctx: Context, ref: str, as_json: bool) -> None:
    from mlwarden.store import parse_ref

    try:
        name, version = parse_ref(ref, "model")
    except Exception:
        fail(f"{ref} is neither a file nor a registered model NAME[@V]")
    ws = open_workspace(ctx)
    info, verified = ws.models.verify(name, version)
    if as_json:
        emit_json(_verified_json(verified, model=info.ref))
    else:
        click.echo(f"verified {info.ref}: sha256 {info.sha256[:16]}... signed by key {verified.key_id[:12]}", err=True)


def _verified_json(verified: VerifiedModel, *, path: str | None = None, model: str | None = None) -> dict[str, Any]:
    """``model verify --json``: the same keys for a file or folder (``path``) and a registered model (``model``)."""
    single = [digest for name, digest in verified.files if name == "."]
    return {
        "verified": True,
        "path": path,
        "model": model,
        "model_name": verified.model_name,
        "sha256": single[0] if single else None,
        "root_digest": verified.root_digest,
        "key_id": verified.key_id,
        "files": [{"name": n, "sha256": d} for n, d in verified.files],
        "provenance": verified.provenance,
    }


@model.command(
    "public-key",
    epilog=examples("mlwarden model public-key -o signer.pem", "mlwarden model public-key > signer.pem"),
)
@click.option(
    "-o",
    "--output",
    "output",
    metavar="FILE",
    default="-",
    help="Write the PEM here, or - for stdout (the default).",
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@home_option
@click.pass_obj
def model_public_key(ctx: Context, output: str, force: bool) -> None:
    """Print the public half of the workspace's active model-signing key (PEM)."""
    from mlwarden._fsio import check_output

    if output != "-":
        check_output(output, force=force)  # refused before the key is read
    ws = open_workspace(ctx)
    info = ws.keys.signing_key()
    with open_output(output, force=force, mode=0o644) as out:
        out.write(info.public_pem.encode())
    if output != "-":
        click.echo(f"wrote public key {info.key_id[:12]} to {output}", err=True)


@model.command("keys", epilog=examples("mlwarden model keys", "mlwarden model keys --json"))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@home_option
@click.pass_obj
def model_keys(ctx: Context, as_json: bool) -> None:
    """List the workspace's model-signing keys and their states (active, retired, revoked)."""
    ws = open_workspace(ctx)
    keys = ws.keys.signing_keys()
    if as_json:
        emit_json([{k: v for k, v in vars(info).items() if k != "public_pem"} for info in keys])
        return
    for info in keys:
        changed = f" ({info.state} {info.changed_at} by {info.changed_by})" if info.changed_at else ""
        click.echo(f"{info.number:>3}  {info.key_id[:16]}  {info.state:<8} created {info.created_at}{changed}")


@model.command("rotate-key", epilog=examples("mlwarden model rotate-key"))
@home_option
@click.pass_obj
def model_rotate_key(ctx: Context) -> None:
    """Make a new model-signing key; the old one is retired (what it signed still verifies)."""
    ws = open_workspace(ctx)
    new, old = ws.keys.rotate_signing_key()
    click.echo(f"model-signing key {new.key_id[:12]} is active" + (f"; {old.key_id[:12]} retired" if old else ""))


@model.command("revoke-key", epilog=examples("mlwarden model revoke-key 3f2a9c01"))
@click.argument("key_id")
@home_option
@click.pass_obj
def model_revoke_key(ctx: Context, key_id: str) -> None:
    """Revoke a model-signing key (a prefix of 8+ hex digits): nothing it signed verifies any more."""
    ws = open_workspace(ctx)
    info = ws.keys.revoke_signing_key(key_id)
    click.echo(f"revoked model-signing key {info.key_id[:12]}; models it signed no longer verify")


# -- registry ------------------------------------------------------------------------------------


def _reason_map_settings(path: Path | None, not_reasons: tuple[str, ...]) -> dict[str, Any]:
    """The reason map a training run signs: the file's texts and the columns never given as reasons
    (their columns are checked against the model once it is trained)."""
    from mlwarden.errors import BadInput
    from mlwarden.explain import ReasonMap, read_reason_map

    try:
        data = read_reason_map(None if path is None else str(path)) or b"{}"
        return {"reason_map": ReasonMap.parse(data, columns=None, not_reasons=not_reasons).to_json()}
    except BadInput as exc:
        raise BadInput(f"--reason-map: {exc}") from None


def show_version(info: ModelVersion) -> None:
    """A version in a few lines (``train``, ``retrain``, ``model info``)."""
    click.echo(f"{info.ref}  stage {info.stage}  {human_size(info.size)}  sha256 {info.sha256}")
    click.echo(f"  created {info.created_at} by {info.created_by}; signed by key {info.signing_key[:12]}")
    if info.stage_changed_at:
        click.echo(f"  stage set {info.stage_changed_at} by {info.stage_changed_by}")
    data = info.provenance.get("dataset") if isinstance(info.provenance, dict) else None
    if isinstance(data, dict):
        click.echo(f"  dataset {data.get('name')}@{data.get('version')} sha256 {data.get('sha256')}")
    audited = info.provenance.get("data_audit") if isinstance(info.provenance, dict) else None
    if isinstance(audited, dict):
        summary = audited.get("summary") or {}
        line = (
            f"  data audit {audited.get('decision')}: {summary.get('flagged_rows')} of {summary.get('rows')} rows "
            f"flagged, {summary.get('patterns')} pattern(s); report sha256 {audited.get('report_sha256')}"
        )
        click.echo(line)
        if audited.get("decision") == "excluded-flagged":
            click.echo(f"    trained on {audited.get('trained_on')} ({audited.get('excluded_rows')} rows excluded)")
        if audited.get("decision") == "findings-accepted":
            click.echo(
                f"    accepted by {audited.get('accepted_by')} at {audited.get('accepted_at')}: "
                f"{audited.get('accepted_reason')}"
            )
    params = info.provenance.get("parameters", {}) if isinstance(info.provenance, dict) else {}
    if params:
        click.echo(f"  estimator {params.get('estimator')} target {params.get('target')}")
    retrained = info.provenance.get("retrain") if isinstance(info.provenance, dict) else None
    if isinstance(retrained, dict):
        champion = retrained.get("champion") or {}
        compared = (retrained.get("comparison") or {}).get("metrics") or {}
        headline = compared.get("roc_auc") or compared.get("accuracy") or {}
        difference = headline.get("difference") or {}
        metric = "roc_auc" if "roc_auc" in compared else "accuracy"
        shown = (
            f"; {metric} {difference['value']:+.4f} vs champion ({headline.get('finding')})"
            if isinstance(difference.get("value"), float)
            else ""
        )
        click.echo(f"  retrained from {champion.get('ref')} sha256 {champion.get('sha256')}{shown}")
        if retrained.get("trigger") is not None:
            click.echo(f"    trigger {json.dumps(retrained['trigger'], sort_keys=True)}")
    if info.metrics:
        shown = ", ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in info.metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        )
        click.echo(f"  metrics {shown}")


@model.command("ls", epilog=examples("mlwarden model ls", "mlwarden model ls --json"))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@home_option
@click.pass_obj
def model_ls(ctx: Context, as_json: bool) -> None:
    """List registered models you may read: versions, stages, digests."""
    ws = open_workspace(ctx)
    versions = ws.models.list()
    approvals: dict[tuple[str, int], list[Approval]] = {}
    for model_name in sorted({v.name for v in versions}):
        for approval in ws.models.approvals(model_name):
            approvals.setdefault((approval.name, approval.version), []).append(approval)
    retrain = {v.ref: ws.models.retraining_needed(v) for v in versions}
    if as_json:
        emit_json(
            [
                {
                    **v.to_json(),
                    "approvals": [a.to_json() for a in approvals.get((v.name, v.version), [])],
                    "needs_retraining": retrain[v.ref],
                }
                for v in versions
            ]
        )
        return
    if not versions:
        click.echo("no models yet: train one with `mlwarden train`", err=True)
        return
    header = f"{'MODEL':<28} {'STAGE':<10} {'APPROVED':<16} {'SIZE':>9}  {'SHA256':<16}  {'CREATED':<20}  AUC"
    click.echo(header.rstrip())
    for v in versions:
        auc = v.metrics.get("roc_auc")
        metric = f"  {auc:.3f}" if isinstance(auc, float) else ""
        # Who approved these bytes (whether the approval still counts: `mlwarden model info`).
        approvers = ",".join(a.approved_by for a in approvals.get((v.name, v.version), []) if a.sha256 == v.sha256)
        line = (
            f"{v.ref:<28} {v.stage:<10} {approvers or '-':<16} {human_size(v.size):>9}  {v.sha256[:16]}  "
            f"{v.created_at:<20}{metric}"
        )
        click.echo(line.rstrip())
        if retrain[v.ref]:
            click.echo(f"  ! needs retraining: {retrain[v.ref]}")


@model.command("info", epilog=examples("mlwarden model info credit-risk@1", "mlwarden model info credit-risk --json"))
@click.argument("ref", metavar="NAME[@V]")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (with the full provenance).")
@home_option
@click.pass_obj
def model_info(ctx: Context, ref: str, as_json: bool) -> None:
    """Show a model version: digest, stage, signer, provenance (dataset and its SHA-256), metrics, approvals.

    \b
    --json adds approvals (each with valid: whether it lets the version go to production now).
    """
    from mlwarden.store import parse_ref

    name, version = parse_ref(ref, "model")
    ws = open_workspace(ctx)
    info = ws.models.info(name, version)
    approvals = ws.models.approvals(info.name, info.version)
    valid = ws.models.approval_of(info) if approvals else None
    retrain = ws.models.retraining_needed(info)
    if as_json:
        emit_json(
            {
                **info.to_json(),
                "approvals": [{**a.to_json(), "valid": a == valid} for a in approvals],
                "needs_retraining": retrain,
            }
        )
        return
    show_version(info)
    if retrain:
        click.echo(f"  needs retraining: {retrain}; run `mlwarden retrain {info.name}`")
    for approval in approvals:
        state = "valid" if approval == valid else "not valid (approver no longer entitled, or other bytes)"
        note = f": {approval.note}" if approval.note else ""
        click.echo(f"  approved {approval.approved_at} by {approval.approved_by}, {state}{note}")
    if not approvals and info.stage in ("none", "candidate", "staging"):
        click.echo(f"  not approved: production needs `mlwarden model approve {info.ref}` by another principal")


@model.command(
    "promote",
    epilog=examples(
        "mlwarden model promote credit-risk@3 --stage production", "mlwarden model promote m@2 --stage staging"
    ),
)
@click.argument("ref", metavar="NAME@V")
@click.option("--stage", type=click.Choice(STAGE_NAMES), required=True, help="The new stage.")
@click.option("--json", "as_json", is_flag=True, help="Print the version's record as JSON.")
@home_option
@click.pass_obj
def model_promote(ctx: Context, ref: str, stage: str, as_json: bool) -> None:
    """Move a model version to a stage (production archives the previous production version).

    \b
    Production needs a valid approval (`mlwarden model approve`) by a principal other than
    the one who trained or registered the version: without one the promotion is refused
    (exit 3) and the refusal recorded. Stage candidate is made only by `mlwarden retrain`.
    """
    from mlwarden.store import parse_ref

    name, version = parse_ref(ref, "model")
    if version is None:
        fail(f"say which version to promote: {name}@N (see `mlwarden model info {name}`)")
    ws = open_workspace(ctx)
    info = ws.models.promote(name, version, stage)
    if as_json:
        emit_json(info.to_json())
        return
    click.echo(f"{info.ref} is now in {info.stage}")


@model.command("export", epilog=examples("mlwarden model export credit-risk@3 -o out/"))
@click.argument("ref", metavar="NAME[@V]")
@click.option(
    "-o",
    "--output",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write NAME.skops and NAME.skops.sig into.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the paths written as JSON.")
@home_option
@click.pass_obj
def model_export(ctx: Context, ref: str, folder: Path, as_json: bool) -> None:
    """Write a verified registered model and its signature to a folder (for model-signing or serving)."""
    from mlwarden.store import parse_ref

    name, version = parse_ref(ref, "model")
    ws = open_workspace(ctx)
    target, signature = ws.models.export(name, version, folder)
    if as_json:
        emit_json({"path": str(target), "signature": str(signature)})
        return
    click.echo(f"wrote {target} and {signature}", err=True)


# -- train ---------------------------------------------------------------------------------------


@cli.command(
    "train",
    epilog=examples(
        "mlwarden train --data credit-german --target creditability --name credit-risk",
        "mlwarden train --data credit-german@1 --target creditability --name credit-rf --estimator random-forest",
    ),
)
@click.option("--data", "data", metavar="NAME[@V]", required=True, help="The workspace dataset to train on.")
@click.option("--target", required=True, metavar="COL", help="The column to predict.")
@click.option("--name", "name", required=True, metavar="MODEL", help="The model's name in the registry.")
@click.option("--estimator", type=click.Choice(ESTIMATOR_NAMES), default="logistic", show_default=True)
@click.option("--test-size", type=float, default=0.25, show_default=True, help="Held-out share for the metrics.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split and the estimator.")
@click.option(
    "--exclude-flagged",
    is_flag=True,
    help="If the data's audit has findings, train on a new version without the flagged rows (recorded).",
)
@click.option(
    "--accept-findings",
    is_flag=True,
    help="If the data's audit has findings, train on it as it is: accepted already, or now with --reason "
    "(stewards and admins).",
)
@click.option("--reason", metavar="TEXT", default=None, help="Why the findings are accepted (with --accept-findings).")
@click.option(
    "--adverse-class", metavar="CLASS", default=None, help="The class reason codes explain (e.g. bad: a refusal)."
)
@click.option(
    "--reason-map",
    "reason_map",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='JSON {"column": "reason text"}: the texts of reason codes (default: from the column names).',
)
@click.option(
    "--not-reason", "not_reasons", multiple=True, metavar="COL", help="A column never given as a reason (e.g. age)."
)
@click.option("--protected", multiple=True, metavar="COL", help="A column the model card reports fairness figures for.")
@click.option(
    "--background",
    type=click.Choice(["training", "near-cutoff"]),
    default="training",
    show_default=True,
    help="What explanations are relative to: training rows, or those nearest the 0.5 cutoff.",
)
@click.option("--background-rows", type=int, default=100, show_default=True, help="Rows of the explanation background.")
@click.option("--json", "as_json", is_flag=True, help="Print the new version as JSON.")
@home_option
@click.pass_obj
def train(
    ctx: Context,
    data: str,
    target: str,
    name: str,
    estimator: str,
    test_size: float,
    seed: int,
    exclude_flagged: bool,
    accept_findings: bool,
    reason: str | None,
    adverse_class: str | None,
    reason_map: Path | None,
    not_reasons: tuple[str, ...],
    protected: tuple[str, ...],
    background: str,
    background_rows: int,
    as_json: bool,
) -> None:
    """Train a scikit-learn pipeline on an encrypted dataset (in memory only); sign and register it.

    \b
    The target names classes (text, or at most 20 distinct numbers); rows with an empty target
    are left out and counted (metric unlabelled_rows_dropped). Features are numbers, text or
    booleans: date columns are refused (derive numbers from them).

    \b
    The data is audited first (`mlwarden audit data`; a stored audit is reused). With findings
    the run is refused (exit 1) unless --exclude-flagged or --accept-findings; the audit's
    digest and the decision are signed into the model's provenance.

    \b
    Explanations (`mlwarden explain`, the server's "explain": true) are relative to a background
    of training rows kept encrypted with the model; --adverse-class, --reason-map, --not-reason
    and --protected are signed into its provenance.
    """
    from mlwarden.errors import BadInput
    from mlwarden.store import parse_ref

    if exclude_flagged and accept_findings:
        raise BadInput("give --exclude-flagged or --accept-findings, not both")
    if reason is not None and not accept_findings:
        raise BadInput("--reason goes with --accept-findings")
    policy = "exclude" if exclude_flagged else "accept" if accept_findings else "refuse"
    dataset, version = parse_ref(data)
    explanation: dict[str, Any] = {"background": background, "background_rows": background_rows}
    if adverse_class is not None:
        explanation["adverse_class"] = adverse_class
    if protected:
        explanation["protected"] = list(protected)
    if reason_map is not None or not_reasons:
        explanation.update(_reason_map_settings(reason_map, not_reasons))
    ws = open_workspace(ctx)
    info = ws.models.train(
        name,
        dataset,
        target,
        dataset_version=version,
        estimator=estimator,
        test_size=test_size,
        seed=seed,
        on_findings=policy,
        reason=reason,
        explanation=explanation,
    )
    audited = info.provenance.get("data_audit") if isinstance(info.provenance, dict) else None
    if isinstance(audited, dict) and audited.get("decision") == "excluded-flagged":
        click.echo(
            f"trained on {audited.get('trained_on')}: {audited.get('dataset')} less "
            f"{audited.get('excluded_rows')} flagged row(s)",
            err=True,
        )
    dropped = info.metrics.get("unlabelled_rows_dropped")
    if dropped:
        click.echo(f"left out {dropped} row(s) whose {target!r} is empty (unlabelled)", err=True)
    if as_json:
        emit_json(info.to_json())
    else:
        show_version(info)
