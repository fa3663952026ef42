"""``mlwarden keys``: list, rotate, destroy key versions; generate a master key."""

from __future__ import annotations

import base64
import os

import click

from mlwarden.cli._app import Context, cli, emit_json
from mlwarden.cli._common import open_workspace


@cli.group()
def keys() -> None:
    """Key-encryption key versions of the workspace."""


@keys.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def keys_ls(ctx: Context, as_json: bool) -> None:
    """List key versions, the primary one, and how many data keys each wraps."""
    ws = open_workspace(ctx)
    versions = ws.key_versions()
    if as_json:
        emit_json(
            {
                "key_source": ws.keyring.master_kind,
                "primary": ws.keyring.primary,
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


@keys.command("rotate")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def keys_rotate(ctx: Context, as_json: bool) -> None:
    """Add a key version, make it primary, and rewrap every data key under it (payloads untouched)."""
    ws = open_workspace(ctx)
    result = ws.rotate_keys()
    if as_json:
        emit_json({"primary": result.new_version, "rewrapped": result.rewrapped})
        return
    click.echo(f"rotated: key version {result.new_version} is primary; {result.rewrapped} data keys rewrapped")


@keys.command("destroy")
@click.argument("version", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def keys_destroy(ctx: Context, version: int, yes: bool) -> None:
    """Destroy an old key VERSION for good (completes crypto-shredding).

    Refused for the primary version and while a workspace data key still uses it. Files made
    with `mlwarden encrypt` under that version can never be decrypted again.
    """
    ws = open_workspace(ctx)
    if not yes:
        click.confirm(
            f"Destroy key version {version}? Files encrypted under it become unreadable", abort=True, err=True
        )
    ws.destroy_key_version(version)
    click.echo(f"destroyed key version {version}")


@keys.command("generate")
def keys_generate() -> None:
    """Print a new random master key for MLWARDEN_MASTER_KEY (base64 of 32 bytes)."""
    click.echo(base64.b64encode(os.urandom(32)).decode())
