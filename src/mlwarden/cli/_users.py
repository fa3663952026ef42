"""``mlwarden user``: principals, their roles, scopes and tokens."""

from __future__ import annotations

import click

from mlwarden.cli._app import Context, HelpfulGroup, cli, emit_json, home_option, show_help_if_bare
from mlwarden.cli._common import open_workspace

# mlwarden.access.ROLES, spelled out so that `mlwarden --help` need not import the access
# package (and the crypto under it); a test keeps the two equal.
ROLE_NAMES = ["admin", "steward", "scientist", "deployer", "auditor", "client"]


@cli.group(cls=HelpfulGroup)
@home_option
@click.pass_context
def user(ctx: click.Context) -> None:
    """Users and service accounts: add (prints a token once), ls, token (a new one), revoke."""
    show_help_if_bare(ctx)


@user.command("add")
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
@click.option("--json", "as_json", is_flag=True, help="Print the principal and its token as JSON.")
@home_option
@click.pass_obj
def user_add(
    ctx: Context, name: str, role: str, scopes: tuple[str, ...], expires: str | None, service: bool, as_json: bool
) -> None:
    """Add principal NAME with ROLE; prints its token once (it is stored only as a hash)."""
    from mlwarden.access import parse_duration

    lifetime = None if expires is None else parse_duration(expires)
    ws = open_workspace(ctx)
    principal, token = ws.add_user(
        name, role, scopes=scopes or ("*",), kind="service" if service else "user", expires=lifetime
    )
    if as_json:
        emit_json({**principal.to_json(ws.principals.now()), "token": token})
        return
    click.echo(token)
    scope_text = ", ".join(principal.scopes)
    until = f", expires {principal.expires}" if principal.expires else ""
    click.echo(
        f"added {principal.kind} {principal.name} ({principal.role} on {scope_text}{until}); "
        "the token above is shown only once: give it to them as MLWARDEN_TOKEN",
        err=True,
    )


@user.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@home_option
@click.pass_obj
def user_ls(ctx: Context, as_json: bool) -> None:
    """List principals: role, scopes, state (active, expired, revoked), token id."""
    ws = open_workspace(ctx)
    principals = ws.users()
    now = ws.principals.now()
    if as_json:
        emit_json([p.to_json(now) for p in principals])
        return
    click.echo(f"{'NAME':<20} {'KIND':<8} {'ROLE':<10} {'STATE':<8} {'TOKEN ID':<16}  {'EXPIRES':<27} SCOPES")
    for p in principals:
        expires = p.expires or "-"
        line = f"{p.name:<20} {p.kind:<8} {p.role:<10} {p.state(now):<8} {p.token_id:<16}  {expires:<27} "
        click.echo(line + ", ".join(p.scopes))


@user.command("token")
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
    principal, token = ws.reissue_token(name, expires=lifetime)
    if as_json:
        emit_json({**principal.to_json(ws.principals.now()), "token": token})
        return
    click.echo(token)
    click.echo(
        f"new token for {principal.name} (id {principal.token_id}); the old one no longer works, "
        "and the token above is shown only once",
        err=True,
    )


@user.command("revoke")
@click.argument("name")
@home_option
@click.pass_obj
def user_revoke(ctx: Context, name: str) -> None:
    """Revoke NAME's token for good (the record stays for the audit trail)."""
    ws = open_workspace(ctx)
    done = ws.revoke_user(name)
    click.echo(f"revoked {done.name} (token {done.token_id}) at {done.revoked}")
