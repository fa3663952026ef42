"""The ``mlwarden`` command: the root group, shared options, and the one place errors become exits.

Exit codes, for every command:

====  ==========================================================================
0     success
1     findings (a scan or check found something; used by later commands)
2     bad input or usage: a wrong argument, missing file, unknown name, shredded data
3     integrity or access failure: tampered data, wrong passphrase or key, denied
70    internal error (a bug: please report it with the output of MLWARDEN_DEBUG=1)
130   interrupted
====  ==========================================================================

Errors print one line on stderr, ``mlwarden: error: <what is wrong and what to do>``, never a
traceback unless ``MLWARDEN_DEBUG=1``. Only this package prints or exits. Heavy modules are
imported inside the commands that need them, so ``mlwarden --help`` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from mlwarden import __version__
from mlwarden.errors import MlwardenError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2
EXIT_INTEGRITY = 3
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


@dataclass
class Context:
    """Options of the root group, handed to every command."""

    home: str | None


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"mlwarden: error: {message}", err=True)
    sys.exit(code)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mlwarden")
@click.option(
    "--home",
    metavar="DIR",
    default=None,
    help="Workspace folder (default: $MLWARDEN_HOME, else ./.mlwarden).",
)
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """mlwarden: secure and private machine-learning pipelines by default.

    \b
    Exit codes: 0 ok, 1 findings, 2 bad input or usage, 3 integrity or access failure.
    Set MLWARDEN_DEBUG=1 to see tracebacks.
    """
    ctx.obj = Context(home=home)


def _describe_os_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot access{where}: {exc.strerror or exc}"


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``mlwarden`` console script."""
    # Importing the commands registers them on the group.
    from mlwarden.cli import _files, _keys  # noqa: F401

    debug = os.environ.get("MLWARDEN_DEBUG", "") not in ("", "0")
    try:
        cli.main(args=argv, prog_name="mlwarden", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # usage errors
        if debug:
            raise
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see `{exc.ctx.command_path} --help`)"
        fail(f"{exc.format_message()}{hint}", EXIT_BAD_INPUT)
    except click.exceptions.Abort:
        click.echo("mlwarden: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except MlwardenError as exc:
        if debug:
            raise
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        click.echo("mlwarden: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader of our stdout went away (`mlwarden decrypt x -o - | head`): not an error of ours.
        sys.stderr.close()
        sys.exit(EXIT_OK)
    except OSError as exc:
        if debug:
            raise
        fail(_describe_os_error(exc), EXIT_BAD_INPUT)
    except Exception as exc:
        if debug:
            raise
        fail(
            f"internal error ({type(exc).__name__}); please report it with the output of MLWARDEN_DEBUG=1",
            EXIT_INTERNAL,
        )
    sys.exit(EXIT_OK)
