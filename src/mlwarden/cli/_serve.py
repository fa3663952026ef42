"""``mlwarden serve``: the authenticated, rate-limited, audited inference server."""

from __future__ import annotations

import click

from mlwarden.cli._app import EXIT_FINDINGS, Context, cli, emit_json, examples, fail, home_option


@cli.command(
    "serve",
    epilog=examples(
        "mlwarden serve --check",
        "mlwarden serve --model credit-risk@3 --output credit-risk=labels --tls-cert cert.pem --tls-key key.pem",
        "mlwarden serve --host 0.0.0.0 --forwarded-allow-ips 172.17.0.1,10.0.0.0/8",
        "mlwarden serve --body-timeout 30 --body-min-rate 1024 --max-in-flight-per-token 64",
        "mlwarden serve --reload-interval 30 --drift-window 60",
    ),
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: all).")
@click.option("--port", type=int, default=8080, show_default=True, help="TCP port.")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes (limits are per worker).")
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME[@V]",
    help="Serve this model version (repeatable; default: every model in stage production).",
)
@click.option("--tls-cert", metavar="FILE", default=None, help="PEM certificate chain: serve HTTPS.")
@click.option("--tls-key", metavar="FILE", default=None, help="PEM private key of --tls-cert.")
@click.option(
    "--output",
    "outputs",
    multiple=True,
    metavar="POLICY",
    help="What answers reveal: labels, round:N (probabilities to N decimals; default round:6), "
    "or MODEL=labels / MODEL=round:N for one model (repeatable).",
)
@click.option(
    "--reason-map",
    "reason_maps",
    multiple=True,
    metavar="MODEL=FILE",
    help="A deployer's reason texts for MODEL's reason codes (JSON {column: text}); its digest is logged.",
)
@click.option("--max-body", type=int, default=1_048_576, show_default=True, help="Largest request body, bytes.")
@click.option("--max-instances", type=int, default=256, show_default=True, help="Most rows in one request.")
@click.option(
    "--range-margin",
    type=float,
    default=0.0,
    show_default=True,
    help="Accept numeric values this fraction of the training range beyond it (0: the training range).",
)
@click.option(
    "--forwarded-allow-ips",
    metavar="ADDRS",
    default="",
    help="Believe X-Forwarded-For/-Proto only from these proxies: addresses or CIDR networks, "
    "comma-separated (default: from no one; the client is the TCP peer).",
)
@click.option(
    "--body-timeout",
    type=float,
    default=20.0,
    show_default=True,
    help="Seconds a request may take to send its body (408 and closed past it).",
)
@click.option(
    "--body-min-rate",
    type=int,
    default=4096,
    show_default=True,
    help="Bytes a second a body must average after its first 2 s (0: no minimum; 408 and closed below it).",
)
@click.option(
    "--max-in-flight-per-token",
    type=int,
    default=0,
    show_default=True,
    help="Predictions of one token answered at once (0: a fair share, max(8, 1024 / tokens active)).",
)
@click.option(
    "--reload-interval",
    type=float,
    default=10.0,
    show_default=True,
    metavar="S",
    help="Serving by stage (no --model): check for newly promoted production versions every S seconds and "
    "switch to those that pass every check, with no request dropped (0: only on SIGHUP).",
)
@click.option(
    "--drift-window",
    type=float,
    default=300.0,
    show_default=True,
    metavar="S",
    help="Count what each model is asked into its reference profile's bins (no rows kept); every S seconds, "
    "and at shutdown, store the window encrypted and set the drift gauges of /metrics (0: off).",
)
@click.option("--no-extraction-monitor", is_flag=True, help="Do not watch tokens for model-extraction patterns.")
@click.option("--suspend-on-extraction", is_flag=True, help="Suspend a token when the extraction monitor alerts.")
@click.option("--check", is_flag=True, help="Check the set-up (keys, models, TLS, port) and exit without serving.")
@click.option("--json", "as_json", is_flag=True, help="With --check: print the result as JSON.")
@home_option
@click.pass_obj
def serve(
    ctx: Context,
    host: str,
    port: int,
    workers: int,
    models: tuple[str, ...],
    tls_cert: str | None,
    tls_key: str | None,
    outputs: tuple[str, ...],
    reason_maps: tuple[str, ...],
    max_body: int,
    max_instances: int,
    range_margin: float,
    forwarded_allow_ips: str,
    body_timeout: float,
    body_min_rate: int,
    max_in_flight_per_token: int,
    reload_interval: float,
    drift_window: float,
    no_extraction_monitor: bool,
    suspend_on_extraction: bool,
    check: bool,
    as_json: bool,
) -> None:
    """Serve verified models over HTTP(S) to token holders; every prediction goes to the audit log.

    Each model is loaded through the one gate (signature, scan, safe load); one that fails is not
    served, and the server refuses to start when none verifies. Clients call
    POST /v1/models/NAME/predict with `Authorization: Bearer <token>` (role client, scoped to the
    model). A request's body is read before it takes one of the 1,024 slots for predictions in
    progress, within --body-timeout and at --body-min-rate; one token holds at most its share of
    the slots, and of the bodies read at once (32; 256 per client address). Exit codes of
    --check: 0 all verify, 1 some were refused, 3 none verify (or the keys or the operator's
    token are refused), 2 the set-up cannot work: a malformed or out-of-range
    option, TLS files missing or not loading, the port not free, no model in production, a model
    named twice, --workers above 1 without the keys in the environment.
    """
    from mlwarden.serve import OutputPolicy, ServeConfig, parse_output_policy

    default = OutputPolicy()
    per_model: list[tuple[str, OutputPolicy]] = []
    for text in outputs:
        name, policy = parse_output_policy(text)
        if name is None:
            default = policy
        else:
            per_model.append((name, policy))
    maps: list[tuple[str, str]] = []
    for entry in reason_maps:
        model_name, sep, path = entry.partition("=")
        if not sep or not model_name or not path:
            fail(f"--reason-map {entry!r}: write MODEL=FILE")
        maps.append((model_name, path))
    config = ServeConfig(
        host=host,
        port=port,
        workers=workers,
        models=models,
        home=ctx.home,
        tls_cert=tls_cert,
        tls_key=tls_key,
        max_body_bytes=max_body,
        max_instances=max_instances,
        range_margin=range_margin,
        default_output=default,
        outputs=tuple(per_model),
        reason_maps=tuple(maps),
        extraction_monitor=not no_extraction_monitor,
        suspend_on_extraction=suspend_on_extraction,
        body_timeout=body_timeout,
        body_min_rate=body_min_rate,
        max_in_flight_per_token=max_in_flight_per_token,
        reload_interval=reload_interval,
        drift_window=drift_window,
        forwarded_allow_ips=tuple(a.strip() for a in forwarded_allow_ips.split(",") if a.strip()),
    ).check()
    from mlwarden.serve import check_setup, preflight, run

    if check:
        found = check_setup(config)
        if as_json:
            emit_json(
                {
                    "operator": found.operator,
                    "tls": found.tls,
                    "served": [m.describe() for m in found.served],
                    "refused": [{"ref": f.ref, "error": f.error, "message": f.message} for f in found.failures],
                }
            )
        else:
            for m in found.served:
                click.echo(f"ok       {m.name}@{m.version}  sha256 {m.digest[:16]}  {m.output.describe()}")
            for f in found.failures:
                click.echo(f"refused  {f.ref}  {f.error}: {f.message}")
            scheme = "https" if found.tls else "http"
            click.echo(f"would serve {len(found.served)} model(s) on {scheme}://{host}:{port} as {found.operator}")
        if not found.served:
            from mlwarden.errors import IntegrityError

            raise IntegrityError("no model verified: the server would refuse to start")
        if found.failures:
            raise click.exceptions.Exit(EXIT_FINDINGS)
        return

    from mlwarden.serve._server import log_to_stderr

    log_to_stderr("mlwarden serve")
    service = None
    if workers == 1:
        from mlwarden._workspace import Workspace
        from mlwarden.serve import Service

        preflight(config)
        service = Service.start(config, Workspace.open(ctx.home))
    else:
        # Each worker loads the models itself; check first, so that a set-up in which no model
        # verifies refuses to start here, once, instead of in workers restarted over and over
        # (check_setup runs the preflight checks too).
        found = check_setup(config)
        if not found.served:
            from mlwarden.errors import IntegrityError

            shown = "; ".join(f"{f.ref}: {f.message}" for f in found.failures)
            raise IntegrityError(f"no model verified, so nothing is served ({shown})")
    scheme = "https" if tls_cert else "http"
    click.echo(f"mlwarden serve: listening on {scheme}://{host}:{port} (Ctrl-C stops)", err=True)
    run(config, service, checked=True)
