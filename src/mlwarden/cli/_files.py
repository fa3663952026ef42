"""``mlwarden init``, ``encrypt`` and ``decrypt``."""

from __future__ import annotations

import click

from mlwarden.cli._app import Context, cli, emit_json, examples, home_option
from mlwarden.cli._common import (
    confirm,
    human_size,
    open_input,
    open_output,
    open_workspace,
    progress_bar,
    prompt_passphrase,
    readable_twice,
    releases_as_written,
)


@cli.command(
    epilog=examples(
        "MLWARDEN_PASSPHRASE='a long passphrase' mlwarden init",
        "mlwarden init --key-source env --json   # with MLWARDEN_MASTER_KEY set",
    )
)
@click.option(
    "--key-source",
    type=click.Choice(["passphrase", "env"]),
    default=None,
    help="What unlocks the workspace (default: env when MLWARDEN_MASTER_KEY is set, else passphrase).",
)
@click.option(
    "--kdf",
    type=click.Choice(["argon2id", "scrypt"]),
    default="argon2id",
    show_default=True,
    help="How a passphrase becomes the master key (Argon2id: t=3, 64 MiB, p=4; scrypt: N=2^16, r=8, p=1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@home_option
@click.pass_obj
def init(ctx: Context, key_source: str | None, kdf: str, as_json: bool) -> None:
    """Create a workspace (refuses to overwrite an existing one)."""
    from mlwarden._workspace import ADMIN_TOKEN, Workspace
    from mlwarden.crypto import new_params

    ws = Workspace.init(ctx.home, key_source=key_source, kdf=new_params(kdf), prompt=prompt_passphrase)
    token_file = ws.home / ADMIN_TOKEN
    if as_json:
        emit_json(
            {
                "home": str(ws.home),
                "id": ws.id,
                "key_source": ws.keys.master_kind,
                "key_version": 1,
                "admin": ws.principal.name,
                "admin_token_file": str(token_file),
            }
        )
        return
    click.echo(f"created workspace {ws.id[:12]} at {ws.home} (unlocked by {ws.keys.master_kind}, key version 1)")
    click.echo(f"first admin: {ws.principal.name}; its token is saved in {token_file} (mode 0600)")


@cli.command(
    epilog=examples("mlwarden encrypt train.csv -o train.csv.mlw", "tar c data/ | mlwarden encrypt - -o data.tar.mlw")
)
@click.argument("input_name", metavar="IN")
@click.option("-o", "--output", "output_name", metavar="OUT", required=True, help="Output file, or - for stdout.")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@home_option
@click.pass_obj
def encrypt(ctx: Context, input_name: str, output_name: str, force: bool) -> None:
    """Envelope-encrypt IN (a file, or - for stdin) into OUT with the workspace's keys."""
    ws = open_workspace(ctx)
    with (
        open_input(input_name) as (src, size),
        open_output(output_name, force=force, mode=0o644, source=input_name) as dst,
        progress_bar(size, "encrypting") as advance,
    ):
        total = ws.files.encrypt(src, dst, progress=advance)
    click.echo(
        f"mlwarden: encrypted {human_size(total)} with key version {ws.keys.primary} -> {output_name}",
        err=True,
    )


@cli.command(
    epilog=examples("mlwarden decrypt train.csv.mlw -o train.csv", "mlwarden decrypt train.csv.mlw -o - | head")
)
@click.argument("input_name", metavar="IN")
@click.option("-o", "--output", "output_name", metavar="OUT", required=True, help="Output file, or - for stdout.")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@home_option
@click.pass_obj
def decrypt(ctx: Context, input_name: str, output_name: str, force: bool) -> None:
    """Decrypt IN (made by `mlwarden encrypt`) into OUT; nothing is written unless all of it verifies.

    A file OUT appears only once complete. When OUT is read as it is written (- for stdout, a
    FIFO, a device such as /dev/null) and IN is a file, the whole of IN is verified before the
    first byte is written (twice the decryption work). From stdin into such an OUT, each 1 MiB
    segment is written once it verifies, and a failure (exit 3) can come after some output:
    discard the output of a failed run.
    """
    ws = open_workspace(ctx)
    with (
        open_input(input_name) as (src, size),
        open_output(output_name, force=force, mode=0o600, source=input_name) as dst,
        progress_bar(size, "decrypting") as advance,
    ):
        verify_first = releases_as_written(output_name, dst) and readable_twice(src)
        total = ws.files.decrypt(src, dst, progress=advance, verify_first=verify_first)
    click.echo(f"mlwarden: decrypted {human_size(total)} -> {output_name}", err=True)


@cli.command(
    epilog=examples(
        "mlwarden shred train.csv.mlw",
        "mlwarden shred train.csv.mlw --yes   # no terminal: --yes is needed",
    )
)
@click.argument("input_name", metavar="FILE")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@home_option
@click.pass_obj
def shred(ctx: Context, input_name: str, yes: bool) -> None:
    """Crypto-shred FILE (made by `mlwarden encrypt`): destroy its data key, so no copy can be read.

    The file itself is left in place; it becomes noise. Shredding is complete once the key
    version named in the file's header is destroyed (`mlwarden keys rotate`, then
    `mlwarden keys destroy VERSION`), since the header keeps a wrap made under that version.
    """
    ws = open_workspace(ctx)
    if not yes:
        confirm(f"Destroy the data key of {input_name}? It can never be decrypted again")
    with open_input(input_name) as (src, _size):
        object_id = ws.files.shred(src)
    click.echo(f"shredded {input_name} (object {object_id.hex()})")
