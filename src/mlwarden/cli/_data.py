"""``mlwarden data``: the encrypted, versioned dataset store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlwarden.cli._app import (
    EXIT_INTEGRITY,
    Context,
    HelpfulGroup,
    cli,
    emit_json,
    examples,
    home_option,
    show_help_if_bare,
)
from mlwarden.cli._common import (
    confirm,
    human_size,
    late_progress_bar,
    no_huge_pages,
    open_input,
    open_output,
    open_workspace,
    progress_bar,
    releases_as_written,
)
from mlwarden.errors import BadInput, NotFound

if TYPE_CHECKING:
    from mlwarden.store import DatasetVersion


@cli.group(
    cls=HelpfulGroup,
    epilog=examples("mlwarden data put train.csv --name credit-german", "mlwarden data ls"),
)
@home_option
@click.pass_context
def data(ctx: click.Context) -> None:
    """Encrypted, versioned datasets: put, get, ls, info, rm --shred, check, import-fernet; personal data: pii,
    pseudonymise, reidentify, forget, erasures."""
    show_help_if_bare(ctx)


def _tags(values: tuple[str, ...]) -> dict[str, str]:
    from mlwarden.store import parse_tag

    tags: dict[str, str] = {}
    for text in values:
        key, value = parse_tag(text)
        if key in tags:
            raise BadInput(f"tag {key} is given twice")
        tags[key] = value
    return tags


def _ref(text: str) -> tuple[str, int | None]:
    from mlwarden.store import parse_ref

    return parse_ref(text)


def _describe_schema(v: DatasetVersion) -> str:
    if v.format == "binary":
        return "no schema"
    if v.schema.columns is None:
        return "schema unknown" + (f" ({v.schema.error})" if v.schema.error else "")
    rows = "? rows" if v.rows is None else f"{v.rows:,} row{'' if v.rows == 1 else 's'}"
    columns = len(v.schema.columns)
    return f"{rows}, {columns} column{'' if columns == 1 else 's'}"


@data.command(
    epilog=examples(
        "mlwarden data put train.csv --name credit-german --tag source=uci",
        "mlwarden data put - --name credit-german --format csv < train.csv",
    )
)
@click.argument("file_name", metavar="FILE")
@click.option("--name", "name", required=True, help="Dataset name: letters, digits, '.', '_', '-'.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag for this version (repeatable).")
@click.option("--force", is_flag=True, help="Make a new version even if the content equals the latest one.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "jsonl", "binary"]),
    default=None,
    help="The file's format (default: from its extension and content).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the version's record as JSON.")
@home_option
@click.pass_obj
def put(
    ctx: Context, file_name: str, name: str, tags: tuple[str, ...], force: bool, fmt: str | None, as_json: bool
) -> None:
    """Store FILE (or - for stdin) encrypted, as the next version of dataset NAME.

    Prints NAME@VERSION and the plaintext SHA-256. Content equal to the latest version makes
    no new version unless --force.
    """
    from mlwarden.store import check_name

    check_name(name)
    parsed = _tags(tags)
    no_huge_pages()
    ws = open_workspace(ctx)
    with open_input(file_name) as (src, size), progress_bar(size, f"storing {name}") as advance:
        # The file object's name (its path) lets the store detect the format from the extension.
        result = ws.datasets.put(src, name=name, tags=parsed, force=force, format=fmt, progress=advance)
    v = result.version
    if as_json:
        emit_json({**v.to_json(), "created": result.created})
    else:
        click.echo(f"{v.ref}  sha256:{v.sha256}")
    if result.created:
        click.echo(
            f"mlwarden: stored {human_size(v.size)} as {v.ref} ({v.format}, {_describe_schema(v)}, "
            f"key version {v.key_version})",
            err=True,
        )
        if v.schema.columns:
            from mlwarden.cli._personal_data import describe_classes

            click.echo(f"mlwarden: {v.ref}: {describe_classes(ws.privacy.columns(v.name, v.version))}", err=True)
    else:
        click.echo(
            f"mlwarden: unchanged: the content equals {v.ref}, so no new version was made (--force makes one)",
            err=True,
        )


@data.command(
    epilog=examples(
        "mlwarden data get credit-german@1 -o train.csv",
        "mlwarden data get credit-german -o - | head",
    )
)
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("-o", "--output", "output_name", metavar="OUT", required=True, help="Output file, or - for stdout.")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
@home_option
@click.pass_obj
def get(ctx: Context, ref: str, output_name: str, force: bool) -> None:
    """Restore a version's exact bytes into OUT (the latest version when none is given).

    Nothing is written unless all of it verifies: a file OUT appears only once complete, and
    when OUT is read as it is written (- for stdout, a FIFO, a device) the whole version is
    verified before the first byte goes out.
    """
    name, version = _ref(ref)
    ws = open_workspace(ctx)
    with late_progress_bar() as start, open_output(output_name, force=force, mode=0o600) as dst:
        verify_first = releases_as_written(output_name, dst)
        v = ws.datasets.get(name, version, dst, start_progress=start, verify_first=verify_first)
    click.echo(f"mlwarden: restored {v.ref} ({human_size(v.size)}, SHA-256 verified) -> {output_name}", err=True)


@data.command(name="ls", epilog=examples("mlwarden data ls", "mlwarden data ls --json"))
@click.option("--json", "as_json", is_flag=True, help="Print the datasets as JSON.")
@home_option
@click.pass_obj
def ls(ctx: Context, as_json: bool) -> None:
    """List datasets with their latest version."""
    ws = open_workspace(ctx)
    found = ws.datasets.list()
    if as_json:
        emit_json([d.to_json() for d in found])
        return
    if not found:
        click.echo("no datasets yet; store one with `mlwarden data put FILE --name NAME`", err=True)
        return
    table: list[tuple[str, ...]] = [("NAME", "LATEST", "VERSIONS", "SIZE", "ROWS", "FORMAT", "CREATED")]
    for d in found:
        v = d.latest
        table.append(
            (
                d.name,
                "shredded" if v is None else v.ref,
                str(d.versions),
                "-" if v is None else human_size(v.size),
                "-" if v is None or v.rows is None else f"{v.rows:,}",
                "-" if v is None else v.format,
                "-" if v is None else v.created_at,
            )
        )
    _print_table(table)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


@data.command(epilog=examples("mlwarden data info credit-german", "mlwarden data info credit-german@2 --json"))
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@home_option
@click.pass_obj
def info(ctx: Context, ref: str, as_json: bool) -> None:
    """Show a version: schema (columns and types), rows, SHA-256, size, key version, tags."""
    name, version = _ref(ref)
    ws = open_workspace(ctx)
    v = ws.datasets.info(name, version)
    classes = ws.privacy.columns(v.name, v.version) if v.schema.columns else {}
    if as_json:
        emit_json({**v.to_json(), "pii": {c: k.to_json() for c, k in classes.items()}})
        return
    lines = [
        ("dataset", v.ref),
        ("format", v.format),
        ("rows", "unknown" if v.rows is None else f"{v.rows:,}"),
        ("size", f"{human_size(v.size)} ({v.size:,} bytes)"),
        ("sha256", v.sha256),
        ("key version", str(v.key_version)),
        ("created", f"{v.created_at} by {v.created_by}"),
    ]
    if v.shredded:
        lines.append(("shredded", f"{v.shredded_at} by {v.shredded_by} (data destroyed; this is a tombstone)"))
    for key, value in sorted(v.tags.items()):
        lines.append((f"tag {key}", value))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key.ljust(width)}  {value}")
    if v.schema.columns is None:
        reason = v.schema.error or "not a tabular format"
        click.echo(f"{'schema'.ljust(width)}  unknown: {reason}")
        return
    click.echo(f"schema ({len(v.schema.columns)} columns):")
    col_width = max((len(c.name) for c in v.schema.columns), default=0)
    type_width = max((len(c.type) for c in v.schema.columns), default=0)
    for c in v.schema.columns:
        found = classes.get(c.name)
        pii = ""
        if found is not None and found.kind is not None:
            label = "pseudonymised " if found.source == "pseudonymised" else ""
            pii = f"  {label}{found.kind} ({found.category}, {found.confidence:.2f})"
        click.echo(f"  {c.name.ljust(col_width)}  {c.type.ljust(type_width)}{pii}".rstrip())


@data.command(epilog=examples("mlwarden data rm credit-german@1 --shred"))
@click.argument("ref", metavar="NAME@VERSION")
@click.option("--shred", is_flag=True, help="Destroy the version's data key (required: rm always shreds).")
@click.option("--json", "as_json", is_flag=True, help="Print the tombstone's record as JSON.")
@home_option
@click.pass_obj
def rm(ctx: Context, ref: str, shred: bool, as_json: bool) -> None:
    """Crypto-shred one version: its data key is destroyed, so no copy can ever be read again.

    The catalog keeps a tombstone (name, version, SHA-256, size, who shredded it and when).
    """
    name, version = _ref(ref)
    if version is None:
        raise BadInput(f"say which version to remove: {name}@VERSION (see `mlwarden data info {name}`)")
    if not shred:
        raise BadInput("`data rm` destroys data for good: add --shred to confirm")
    ws = open_workspace(ctx)
    v = ws.datasets.shred(name, version)
    if as_json:
        emit_json(v.to_json())
        return
    click.echo(f"shredded {v.ref}: data key destroyed at {v.shredded_at} by {v.shredded_by}; tombstone kept")


@data.command(epilog=examples("mlwarden data check", "mlwarden data check --json"))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@home_option
@click.pass_obj
def check(ctx: Context, as_json: bool) -> None:
    """Verify every stored version against the catalog (exit 3 listing any mismatch)."""
    ws = open_workspace(ctx)
    with late_progress_bar() as start:
        report = ws.datasets.check(start_progress=start)
    if as_json:
        emit_json(report.to_json())
    else:
        for p in report.problems:
            click.echo(f"MISMATCH {p.problem if p.problem.startswith(p.ref) else f'{p.ref}: {p.problem}'}")
        status = "ok" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(
            f"{status}: {report.versions} versions verified ({human_size(report.bytes)}), {report.shredded} shredded"
        )
        if report.orphans:
            click.echo(
                f"note: {len(report.orphans)} stored objects belong to no version (left by interrupted puts); "
                "`mlwarden data gc` removes them",
                err=True,
            )
    if not report.ok:
        click.get_current_context().exit(EXIT_INTEGRITY)


@data.command(epilog=examples("mlwarden data gc --yes", "mlwarden data gc --yes --json"))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help='Print {"removed": [object ids]} as JSON.')
@home_option
@click.pass_obj
def gc(ctx: Context, yes: bool, as_json: bool) -> None:
    """Remove stored objects that no version refers to (left by interrupted puts).

    Their data keys are destroyed first, so they can never be read again. Refused (exit 3) when
    the catalog holds less than the workspace recorded of it: restore the catalog first.
    """
    ws = open_workspace(ctx)
    if not yes:
        found = ws.datasets.collect_garbage(dry_run=True)
        if not found:
            if as_json:
                emit_json({"removed": []})
            else:
                click.echo("removed 0 orphaned objects")
            return
        confirm(f"Destroy {len(found)} stored objects that no version refers to, and their data keys?")
    removed = ws.datasets.collect_garbage()
    if as_json:
        emit_json({"removed": list(removed)})
        return
    click.echo(f"removed {len(removed)} orphaned objects")


@data.command(
    name="import-fernet",
    epilog=examples("mlwarden data import-fernet scores.csv.enc --key secret.key --name scores"),
)
@click.argument("file_name", metavar="FILE")
@click.option("--key", "key_file", required=True, metavar="KEYFILE", help="The Fernet key file (e.g. secret.key).")
@click.option("--name", "name", required=True, help="Dataset name.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag for this version (repeatable).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "jsonl", "binary"]),
    default=None,
    help="The plaintext's format (default: from FILE's name without .enc, and the content).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the version's record as JSON (as `data put --json`).")
@home_option
@click.pass_obj
def import_fernet(
    ctx: Context, file_name: str, key_file: str, name: str, tags: tuple[str, ...], fmt: str | None, as_json: bool
) -> None:
    """Migrate FILE, a Fernet token (`Fernet(key).encrypt(...)`), into the store as dataset NAME.

    The token is verified (HMAC) before anything is stored; a wrong key or a damaged token is
    exit 3. Its origin and Fernet timestamp are recorded in the version's tags.
    """
    from mlwarden.crypto._fernet import parse_fernet_key
    from mlwarden.store import check_name

    check_name(name)
    parsed = _tags(tags)
    key = parse_fernet_key(_read_small(key_file, "key file"))
    no_huge_pages()
    ws = open_workspace(ctx)
    with open_input(file_name) as (token, size), progress_bar(size, f"importing {name}") as advance:
        result = ws.datasets.import_fernet(
            token, key, name=name, origin=Path(file_name).name, tags=parsed, format=fmt, progress=advance
        )
    v = result.version
    if as_json:
        emit_json({**v.to_json(), "created": result.created})
    else:
        click.echo(f"{v.ref}  sha256:{v.sha256}")
    what = f"imported {human_size(v.size)} from {file_name} as {v.ref}"
    if not result.created:
        what = f"unchanged: the content of {file_name} equals {v.ref}, so no new version was made"
    click.echo(
        f"mlwarden: {what}. The Fernet key file {key_file} "
        f"and the old ciphertext {file_name} still decrypt to this data: destroy both "
        "(e.g. `shred -u`) once you have checked the import.",
        err=True,
    )


def _read_small(name: str, what: str) -> bytes:
    path = Path(name)
    try:
        if path.stat().st_size > 4096:
            raise BadInput(f"{what} {name} is too large to be a key file")
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{what} {name} does not exist") from None
    except IsADirectoryError:
        raise BadInput(f"{what} {name} is a folder; give a file") from None
    except PermissionError:
        raise BadInput(f"{what} {name} is not readable (permission denied)") from None
