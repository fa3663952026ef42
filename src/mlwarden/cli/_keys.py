"""``mlwarden keys``: list, rotate, destroy key versions; generate a master key."""

from __future__ import annotations

import base64
import os

import click

from mlwarden.cli._app import Context, HelpfulGroup, cli, emit_json, examples, home_option, show_help_if_bare
from mlwarden.cli._common import confirm, open_workspace, progress_bar, prompt_new_passphrase


@cli.group(cls=HelpfulGroup, epilog=examples("mlwarden keys ls", "mlwarden keys rotate"))
@click.pass_context
def keys(ctx: click.Context) -> None:
    """Key-encryption key versions of the workspace."""
    show_help_if_bare(ctx)


@keys.command("ls", epilog=examples("mlwarden keys ls", "mlwarden keys ls --json"))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@home_option
@click.pass_obj
def keys_ls(ctx: Context, as_json: bool) -> None:
    """List key versions, the primary one, and how many data keys each wraps."""
    ws = open_workspace(ctx)
    versions = ws.keys.versions()
    if as_json:
        emit_json(
            {
                "key_source": ws.keys.master_kind,
                "primary": ws.keys.primary,
                "versions": [
                    {
                        "version": v.version,
                        "created": v.created,
                        "primary": v.primary,
                        "data_keys": v.data_keys,
                    }
                    for v in versions
                ],
            }
        )
        return
    click.echo(f"{'VERSION':>7}  {'CREATED':<20}  {'DATA KEYS':>9}  STATE")
    for v in versions:
        click.echo(f"{v.version:>7}  {v.created:<20}  {v.data_keys:>9}  {'primary' if v.primary else 'decrypt-only'}")


@keys.command("rotate", epilog=examples("mlwarden keys rotate", "mlwarden keys rotate --json"))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@home_option
@click.pass_obj
def keys_rotate(ctx: Context, as_json: bool) -> None:
    """Add a key version, make it primary, and rewrap every data key under it (payloads untouched)."""
    ws = open_workspace(ctx)
    with progress_bar(ws.keys.data_key_count(), "rewrapping data keys", unit="items") as advance:
        result = ws.keys.rotate(progress=advance)
    if as_json:
        emit_json({"primary": result.new_version, "rewrapped": result.rewrapped})
        return
    click.echo(f"rotated: key version {result.new_version} is primary; {result.rewrapped} data keys rewrapped")


@keys.command(
    "change-master",
    epilog=examples(
        "MLWARDEN_NEW_PASSPHRASE='a new long passphrase' mlwarden keys change-master",
        "export MLWARDEN_NEW_MASTER_KEY=$(mlwarden keys generate)",
        "mlwarden keys change-master --key-source env",
    ),
)
@click.option(
    "--key-source",
    type=click.Choice(["passphrase", "env"]),
    default=None,
    help="What will unlock the workspace (default: what unlocks it now).",
)
@home_option
@click.pass_obj
def keys_change_master(ctx: Context, key_source: str | None) -> None:
    """Put the workspace under a new passphrase or master key (data keys and payloads untouched).

    The current secret unlocks it as usual; the new one comes from MLWARDEN_NEW_PASSPHRASE (or a
    prompt) or MLWARDEN_NEW_MASTER_KEY.
    """
    ws = open_workspace(ctx)
    kind = ws.keys.change_master(key_source, prompt=prompt_new_passphrase)
    click.echo(f"the workspace is now unlocked by its new {kind} key")


@keys.command(
    "destroy",
    epilog=examples("mlwarden keys destroy 1", "mlwarden keys destroy 1 --yes --json   # no terminal: --yes is needed"),
)
@click.argument("version", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@click.option("--json", "as_json", is_flag=True, help='Print {"destroyed": VERSION} as JSON.')
@home_option
@click.pass_obj
def keys_destroy(ctx: Context, version: int, yes: bool, as_json: bool) -> None:
    """Destroy an old key VERSION for good (completes crypto-shredding).

    Refused for the primary version and while any data key this workspace records still uses
    it (`mlwarden keys rotate` moves them all). Afterwards the wraps made under VERSION, such as
    the one in the header of a file encrypted then, are useless: a file whose data key record is
    gone (shredded, or lost with an old backup of the workspace) can no longer be decrypted.
    """
    ws = open_workspace(ctx)
    if not yes:
        confirm(f"Destroy key version {version} for good?")
    ws.keys.destroy_version(version)
    if as_json:
        emit_json({"destroyed": version})
        return
    click.echo(f"destroyed key version {version}")


@keys.command(
    "generate",
    epilog=examples("mlwarden keys generate", "export MLWARDEN_MASTER_KEY=$(mlwarden keys generate)"),
)
def keys_generate() -> None:
    """Print a new random master key for MLWARDEN_MASTER_KEY (base64 of 32 bytes)."""
    click.echo(base64.b64encode(os.urandom(32)).decode())


@keys.command("pseudonym", epilog=examples("mlwarden keys pseudonym", "mlwarden keys pseudonym --json"))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@home_option
@click.pass_obj
def keys_pseudonym(ctx: Context, as_json: bool) -> None:
    """List the pseudonymisation keys: active (makes new tokens) and retired (still matches and reverses)."""
    ws = open_workspace(ctx)
    found = ws.keys.pseudonym_keys()
    if as_json:
        emit_json([vars(k) for k in found])
        return
    if not found:
        click.echo("no pseudonymisation key yet: the first `mlwarden data pseudonymise` makes one", err=True)
    for k in found:
        changed = f" ({k.state} {k.changed_at} by {k.changed_by})" if k.changed_at else ""
        click.echo(f"{k.number:>3}  {k.state:<8} created {k.created_at} by {k.created_by}{changed}")


@keys.command("rotate-pseudonym", epilog=examples("mlwarden keys rotate-pseudonym"))
@home_option
@click.pass_obj
def keys_rotate_pseudonym(ctx: Context) -> None:
    """Make a new pseudonymisation key; the old one is retired (its tokens still match and reverse).

    Versions pseudonymised after the rotation get new tokens: joins need both sides under one key.
    """
    ws = open_workspace(ctx)
    new, old = ws.keys.rotate_pseudonym_key()
    retired = f"; key {old.number} retired" if old else ""
    click.echo(f"pseudonymisation key {new.number} is active{retired}")
