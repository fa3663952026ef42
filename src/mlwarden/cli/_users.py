"""``mlwarden user``: principals, their roles, scopes and tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mlwarden.cli._app import Context, HelpfulGroup, cli, emit_json, examples, home_option, show_help_if_bare
from mlwarden.cli._common import open_workspace

if TYPE_CHECKING:
    from mlwarden.access import LimitChange

# mlwarden.access.ROLES, spelled out so that `mlwarden --help` need not import the access
# package (and the crypto under it); a test keeps the two equal.
ROLE_NAMES = [
    "admin",
    "steward",
    "scientist",
    "deployer",
    "reviewer",
    "privacy-officer",
    "auditor",
    "client",
    "explained-client",
]
# mlwarden.access.DEFAULT_RATE_LIMIT and DEFAULT_DAILY_QUOTA, for the help text (a test keeps them equal).
DEFAULT_RATE_LIMIT_TEXT = "600"
DEFAULT_DAILY_QUOTA_TEXT = "50,000"
RATE_HELP = f"Requests per minute to the inference server (default {DEFAULT_RATE_LIMIT_TEXT})."
QUOTA_HELP = f"Requests per UTC day to the inference server (default {DEFAULT_DAILY_QUOTA_TEXT})."


def _limit(text: str | None, option: str) -> LimitChange:
    """An option's value: a number from 1 to 10^9, ``default`` (``None``), or KEEP when not given."""
    from mlwarden.access import KEEP, check_limit

    if text is None:
        return KEEP
    if text.strip().lower() == "default":
        return None
    return check_limit(text, option)


@cli.group(
    cls=HelpfulGroup,
    epilog=examples("mlwarden user add alice --role scientist --scope 'credit-*'", "mlwarden user ls"),
)
@home_option
@click.pass_context
def user(ctx: click.Context) -> None:
    """Users and service accounts: add (prints a token once), ls, token (a new one), limits, suspend, resume,
    revoke."""
    show_help_if_bare(ctx)


@user.command(
    "add",
    epilog=examples(
        "mlwarden user add alice --role scientist --scope 'credit-*' --expires 30d",
        "mlwarden user add loan-app --role client --service --rate-limit 120 --quota 20000 --json",
    ),
)
@click.argument("name")
@click.option("--role", type=click.Choice(ROLE_NAMES), required=True, help="What the principal may do.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    metavar="PATTERN",
    help="Narrow dataset and model permissions to names matching PATTERN, e.g. credit-* (repeatable).",
)
@click.option("--expires", metavar="DURATION", default=None, help="Token lifetime: 90m, 12h, 30d, 2w (default: none).")
@click.option("--service", is_flag=True, help="A service account rather than a person.")
@click.option("--rate-limit", "rate_limit", metavar="N", default=None, help=RATE_HELP)
@click.option("--quota", metavar="N", default=None, help=QUOTA_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the principal and its token as JSON.")
@home_option
@click.pass_obj
def user_add(
    ctx: Context,
    name: str,
    role: str,
    scopes: tuple[str, ...],
    expires: str | None,
    service: bool,
    rate_limit: str | None,
    quota: str | None,
    as_json: bool,
) -> None:
    """Add principal NAME with ROLE; prints its token once (it is stored only as a hash)."""
    from mlwarden.access import KEEP, parse_duration

    lifetime = None if expires is None else parse_duration(expires)
    rate, daily = _limit(rate_limit, "--rate-limit"), _limit(quota, "--quota")
    ws = open_workspace(ctx)
    principal, token = ws.users.add(
        name,
        role,
        scopes=scopes or ("*",),
        kind="service" if service else "user",
        expires=lifetime,
        rate_limit=None if rate is KEEP else rate,
        daily_quota=None if daily is KEEP else daily,
    )
    if as_json:
        emit_json({**principal.to_json(ws.users.now()), "token": token})
        return
    click.echo(token)
    scope_text = ", ".join(principal.scopes)
    until = f", expires {principal.expires}" if principal.expires else ""
    click.echo(
        f"added {principal.kind} {principal.name} ({principal.role} on {scope_text}{until}); "
        "the token above is shown only once: give it to them as MLWARDEN_TOKEN",
        err=True,
    )


@user.command("ls", epilog=examples("mlwarden user ls", "mlwarden user ls --json"))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@home_option
@click.pass_obj
def user_ls(ctx: Context, as_json: bool) -> None:
    """List principals: role, scopes, state (active, suspended, expired, revoked, tampered), token id, limits.

    RATE/MIN is requests per minute, QUOTA/DAY requests per UTC day (a * marks one set for this
    principal rather than the default). --json adds when, by whom and why a principal was suspended.
    """
    ws = open_workspace(ctx)
    principals = ws.users.list()
    now = ws.users.now()
    if as_json:
        emit_json([p.to_json(now) for p in principals])
        return
    click.echo(
        f"{'NAME':<20} {'KIND':<8} {'ROLE':<10} {'STATE':<9} {'TOKEN ID':<16}  {'EXPIRES':<27} "
        f"{'RATE/MIN':>11} {'QUOTA/DAY':>14}  SCOPES"
    )
    for p in principals:
        expires = p.expires or "-"
        rate = f"{p.limits.rate_limit:,}{'*' if p.rate_limit is not None else ''}"
        quota = f"{p.limits.daily_quota:,}{'*' if p.daily_quota is not None else ''}"
        line = f"{p.name:<20} {p.kind:<8} {p.role:<10} {p.state(now):<9} {p.token_id:<16}  {expires:<27} "
        click.echo(line + f"{rate:>11} {quota:>14}  " + ", ".join(p.scopes))


@user.command("token", epilog=examples("mlwarden user token alice --expires 30d"))
@click.argument("name")
@click.option("--expires", metavar="DURATION", default=None, help="A new lifetime from now: 90m, 12h, 30d, 2w.")
@click.option("--json", "as_json", is_flag=True, help="Print the principal and its new token as JSON.")
@home_option
@click.pass_obj
def user_token(ctx: Context, name: str, expires: str | None, as_json: bool) -> None:
    """Give NAME a new token, printed once; the old token is refused from now on."""
    from mlwarden.access import parse_duration

    lifetime = None if expires is None else parse_duration(expires)
    ws = open_workspace(ctx)
    principal, token = ws.users.reissue(name, expires=lifetime)
    if as_json:
        emit_json({**principal.to_json(ws.users.now()), "token": token})
        return
    click.echo(token)
    click.echo(
        f"new token for {principal.name} (id {principal.token_id}); the old one no longer works, "
        "and the token above is shown only once",
        err=True,
    )


@user.command("revoke", epilog=examples("mlwarden user revoke alice", "mlwarden user revoke alice --json"))
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the principal as JSON.")
@home_option
@click.pass_obj
def user_revoke(ctx: Context, name: str, as_json: bool) -> None:
    """Revoke NAME's token for good (the record stays for the audit trail)."""
    ws = open_workspace(ctx)
    done = ws.users.revoke(name)
    if as_json:
        emit_json(done.to_json(ws.users.now()))
        return
    click.echo(f"revoked {done.name} (token {done.token_id}) at {done.revoked}")


@user.command(
    "limits",
    epilog=examples("mlwarden user limits loan-app", "mlwarden user limits loan-app --rate-limit 60 --quota default"),
)
@click.argument("name")
@click.option("--rate-limit", "rate_limit", metavar="N|default", default=None, help=RATE_HELP)
@click.option("--quota", metavar="N|default", default=None, help=QUOTA_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the principal as JSON.")
@home_option
@click.pass_obj
def user_limits(ctx: Context, name: str, rate_limit: str | None, quota: str | None, as_json: bool) -> None:
    """Show NAME's limits, or change them: a number, or `default` to follow the default again."""
    from mlwarden.access import KEEP

    rate, daily = _limit(rate_limit, "--rate-limit"), _limit(quota, "--quota")
    ws = open_workspace(ctx)
    if rate is KEEP and daily is KEEP:
        principal = ws.users.get(name)
        verb = "limits of"
    else:
        principal = ws.users.set_limits(name, rate_limit=rate, daily_quota=daily)
        verb = "new limits of"
    if as_json:
        emit_json(principal.to_json(ws.users.now()))
        return
    limits = principal.limits
    rate_source = "default" if principal.rate_limit is None else "set"
    quota_source = "default" if principal.daily_quota is None else "set"
    click.echo(
        f"{verb} {principal.name}: {limits.rate_limit:,} requests per minute ({rate_source}), "
        f"{limits.daily_quota:,} requests per UTC day ({quota_source})"
    )


@user.command("suspend", epilog=examples('mlwarden user suspend loan-app --reason "token seen in a public repo"'))
@click.argument("name")
@click.option("--reason", metavar="TEXT", default=None, help="Why (kept in the record and the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print the principal as JSON.")
@home_option
@click.pass_obj
def user_suspend(ctx: Context, name: str, reason: str | None, as_json: bool) -> None:
    """Suspend NAME: its token is refused until `mlwarden user resume NAME` (unlike revoke, reversible)."""
    ws = open_workspace(ctx)
    done = ws.users.suspend(name, reason)
    if as_json:
        emit_json(done.to_json(ws.users.now()))
        return
    click.echo(f"suspended {done.name} (token {done.token_id}) at {done.suspended}")


@user.command("resume", epilog=examples("mlwarden user resume loan-app", "mlwarden user resume loan-app --json"))
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the principal as JSON.")
@home_option
@click.pass_obj
def user_resume(ctx: Context, name: str, as_json: bool) -> None:
    """Lift NAME's suspension: its token works again."""
    ws = open_workspace(ctx)
    done = ws.users.resume(name)
    if as_json:
        emit_json(done.to_json(ws.users.now()))
        return
    click.echo(f"resumed {done.name} (token {done.token_id}); it is {done.state(ws.users.now())}")
