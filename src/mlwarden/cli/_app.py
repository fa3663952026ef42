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

from mlwarden._version import __version__
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


def _one_line(text: str) -> str:
    """Escape control characters (a newline in a file name, say) so an error stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"mlwarden: error: {_one_line(message)}", err=True)
    sys.exit(code)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


class HelpfulGroup(click.Group):
    """A group that may be called without a command; its callback then prints the help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("invoke_without_command", True)
        kwargs.setdefault("no_args_is_help", False)
        super().__init__(*args, **kwargs)


def show_help_if_bare(ctx: click.Context) -> None:
    """In a :class:`HelpfulGroup`'s callback: print the help (exit 0) when no command was given."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def examples(*lines: str) -> str:
    """A command's epilog: an ``Examples:`` section whose lines click prints as written.

    Every command has one; each example starts with ``mlwarden <the command's path>`` and uses
    only that command's options (a test walks the app and checks both).
    """
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


ROOT_EPILOG = """\b
Exit codes:
  0    success
  1    findings (a scan or check found something)
  2    bad input or usage: a wrong argument, a missing file, an existing output
  3    integrity or access failure: tampered data, wrong passphrase or key, denied
  70   internal error (a bug: report it with the output of MLWARDEN_DEBUG=1)
  130  interrupted

\b
Environment:
  MLWARDEN_HOME              the workspace folder (default ./.mlwarden; --home wins)
  MLWARDEN_PASSPHRASE        the passphrase of a passphrase-unlocked workspace
  MLWARDEN_PASSPHRASE_FILE   a file holding it (the plain variable wins)
  MLWARDEN_MASTER_KEY        base64 of the 32-byte master key (`mlwarden keys generate`)
  MLWARDEN_MASTER_KEY_FILE   a file holding it
  MLWARDEN_TOKEN             the token to act with (default: the saved admin token)
  MLWARDEN_TOKEN_FILE        a file holding it
  MLWARDEN_NEW_PASSPHRASE    the new passphrase, for `mlwarden keys change-master`
  MLWARDEN_NEW_MASTER_KEY    the new master key, for `mlwarden keys change-master`
  MLWARDEN_CATALOG_URL       the catalog database (default SQLite <home>/catalog.db)
  MLWARDEN_DEBUG             1: print a traceback with each error

""" + examples(
    "mlwarden init",
    "mlwarden data put train.csv --name credit-german",
    "mlwarden --home /srv/mlwarden data ls",
)


@click.group(
    cls=HelpfulGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=ROOT_EPILOG,
)
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

    Every command's --help ends with examples; exit codes and environment variables are below.
    """
    ctx.obj = Context(home=home)
    show_help_if_bare(ctx)


def _set_home(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.find_object(Context).home = value  # type: ignore[union-attr]


home_option = click.option(
    "--home",
    metavar="DIR",
    default=None,
    expose_value=False,
    callback=_set_home,
    help="Workspace folder (default: $MLWARDEN_HOME, else ./.mlwarden).",
)
"""``--home DIR`` on a command, the same as on ``mlwarden`` itself."""


def _describe_os_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot access{where}: {exc.strerror or exc}"


def _run(argv: list[str] | None) -> None:
    """Parse and run one command; exceptions travel to :func:`main`, which maps them to exits."""
    args = sys.argv[1:] if argv is None else argv
    with cli.make_context("mlwarden", list(args)) as ctx:
        cli.invoke(ctx)


def _exit_code(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an exception escaping a command."""
    if isinstance(exc, MlwardenError):
        return exc.exit_code, str(exc)
    if isinstance(exc, click.UsageError):
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        return EXIT_BAD_INPUT, f"{exc.format_message()}{hint}"
    if isinstance(exc, click.ClickException):
        return EXIT_BAD_INPUT, exc.format_message()
    if isinstance(exc, OSError):
        return EXIT_BAD_INPUT, _describe_os_error(exc)
    return EXIT_INTERNAL, f"internal error ({type(exc).__name__}); please report it with the output of MLWARDEN_DEBUG=1"


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point of the ``mlwarden`` console script."""
    # Importing the commands registers them on the group.
    from mlwarden.cli import (  # noqa: F401
        _audit,
        _data,
        _explain,
        _files,
        _keys,
        _log,
        _models,
        _monitor,
        _personal_data,
        _retrain,
        _serve,
        _users,
    )
    from mlwarden.config import debug_from_env

    # Only MLWARDEN_DEBUG here: the other settings (secret files among them) are read by the
    # commands that need them, inside the handler below, so a bad one is a one-line error and
    # `--version` or `--help` never read them at all.
    debug = debug_from_env()
    try:
        _run(argv)
    except click.exceptions.Exit as exc:  # --help, --version, ctx.exit(n)
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("\nmlwarden: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader of our stdout went away (`mlwarden decrypt x -o - | head`): not our failure.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except Exception as exc:
        code, message = _exit_code(exc)
        if debug:
            import traceback

            traceback.print_exc()
        fail(message, code)
    sys.exit(EXIT_OK)
