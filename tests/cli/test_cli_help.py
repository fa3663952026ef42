"""The help pages: ``mlwarden --help`` lists every exit code and every ``MLWARDEN_*`` variable the
code reads, and every command's page ends with examples that are true of that command.

The walk goes through the click app itself (every group, recursively), so a new command without
an example, or an example using an option its command lacks, fails here. In process: no
subprocess is needed to render a help page.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from mlwarden.cli import _app, _data, _files, _keys, _log, _models, _monitor, _retrain, _serve, _users  # noqa: F401 (registers)
from mlwarden.errors import MlwardenError

SRC = Path(_app.__file__).resolve().parents[1]
HELP_OPTIONS = ("-h", "--help")
# Set by `mlwarden serve` for its own worker processes, never by a user.
INTERNAL_VARIABLES = {"MLWARDEN_SERVE_CONFIG"}
ENV_ASSIGNMENT = re.compile(r"[A-Z_][A-Z0-9_]*=.*")


def commands(
    cmd: click.Command = _app.cli, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from commands(sub, (*path, name))


def help_page(path: tuple[str, ...]) -> str:
    ctx = _app.cli.make_context("mlwarden", [], resilient_parsing=True)
    cmd: click.Command = _app.cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
        ctx = cmd.make_context(name, [], parent=ctx, resilient_parsing=True)
    return ctx.get_help()


def block(page: str, title: str) -> list[str]:
    """The lines of the section of ``page`` headed ``title:`` (up to a blank line), stripped."""
    lines = page.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == f"{title}:"]
    assert len(starts) == 1, f"no single {title!r} section in:\n{page}"
    found = []
    for line in lines[starts[0] + 1 :]:
        if not line.strip():
            break
        found.append(line.strip())
    return found


def without_assignments(words: list[str]) -> list[str]:
    """``words`` without leading ``VAR=value`` assignments."""
    while words and ENV_ASSIGNMENT.fullmatch(words[0]):
        words = words[1:]
    return words


def invocations(example: str) -> Iterator[list[str]]:
    """The argument lists of the ``mlwarden`` commands in one example line (pipes, redirections,
    leading ``VAR=value`` assignments and ``# comments`` left out)."""
    for segment in re.split(r"\s\|\s", example):
        tokens = shlex.split(segment, comments=True)
        words: list[str] = []
        skip = False
        for token in tokens:
            if skip:
                skip = False
            elif token in ("<", ">"):
                skip = True
            else:
                words.append(token)
        words = without_assignments(words)
        if words[:1] == ["mlwarden"]:
            yield words[1:]


def check_invocation(args: list[str], example: str) -> tuple[str, ...]:
    """Parse ``args`` as click would, by name only (no file need exist): every option exists on
    its command, takes a value when it should, a choice is one of the choices, required options
    are there, and the number of arguments fits. Returns the command path reached."""
    cmd: click.Command = _app.cli
    path: tuple[str, ...] = ()
    rest = list(args)
    while True:
        options = {name: p for p in cmd.params if isinstance(p, click.Option) for name in p.opts + p.secondary_opts}
        given: set[str] = set()
        positionals: list[str] = []
        sub: click.Command | None = None
        while rest:
            token = rest.pop(0)
            if token.startswith("-") and token != "-":
                name, eq, value = token.partition("=")
                if name in HELP_OPTIONS:
                    continue
                assert name in options, f"{example!r}: {name} is not an option of `mlwarden {' '.join(path)}`"
                option = options[name]
                given.add(option.name or name)
                if not option.is_flag and not eq:
                    assert rest, f"{example!r}: {name} needs a value"
                    value = rest.pop(0)
                if isinstance(option.type, click.Choice):
                    assert value in option.type.choices, f"{example!r}: {value!r} is not a choice of {name}"
            elif isinstance(cmd, click.Group):
                assert token in cmd.commands, f"{example!r}: no command {token!r} in `mlwarden {' '.join(path)}`"
                sub = cmd.commands[token]
                path = (*path, token)
                break
            else:
                positionals.append(token)
        if sub is not None:
            cmd = sub
            continue
        if any(a in HELP_OPTIONS for a in args):
            return path
        for p in cmd.params:
            if isinstance(p, click.Option) and p.required:
                assert p.name in given, f"{example!r}: the required {p.opts[0]} is missing"
        arguments = [p for p in cmd.params if isinstance(p, click.Argument)]
        least = sum(max(p.nargs, 1) for p in arguments if p.required)
        most = None if any(p.nargs == -1 for p in arguments) else sum(p.nargs for p in arguments)
        assert len(positionals) >= least, f"{example!r}: too few arguments for `mlwarden {' '.join(path)}`"
        assert most is None or len(positionals) <= most, f"{example!r}: too many arguments"
        return path


ALL = list(commands())


def test_the_walk_finds_every_command() -> None:
    paths = {" ".join(p) for p, _ in ALL}
    assert {"", "data gc", "keys destroy", "model verify", "user resume", "serve", "log verify-proof"} <= paths
    assert len(ALL) >= 45


@pytest.mark.parametrize(("path", "cmd"), ALL, ids=[" ".join(p) or "mlwarden" for p, _ in ALL])
def test_every_help_page_has_true_examples(path: tuple[str, ...], cmd: click.Command) -> None:
    examples = block(help_page(path), "Examples")
    assert examples, f"`mlwarden {' '.join(path)} --help` shows no example"
    starts = ["mlwarden", *path]
    assert any(without_assignments(shlex.split(line, comments=True))[: len(starts)] == starts for line in examples), (
        f"no example of `mlwarden {' '.join(path)} --help` starts with `{' '.join(starts)}`: {examples}"
    )
    for line in examples:
        for args in invocations(line):
            reached = check_invocation(args, line)
            # An example on a command's page shows that command (or, on a group's page, one of its own).
            if path:
                assert reached[: len(path)] == path, f"{line!r} is on the page of `mlwarden {' '.join(path)}`"


def test_the_example_checker_catches_a_false_example() -> None:
    with pytest.raises(AssertionError, match="--bogus is not an option"):
        check_invocation(["data", "gc", "--bogus"], "mlwarden data gc --bogus")
    with pytest.raises(AssertionError, match="required --name"):
        check_invocation(["data", "put", "x.csv"], "mlwarden data put x.csv")
    with pytest.raises(AssertionError, match="not a choice"):
        check_invocation(["model", "promote", "m@1", "--stage", "prod"], "")
    with pytest.raises(AssertionError, match="too many arguments"):
        check_invocation(["keys", "ls", "extra"], "")
    with pytest.raises(AssertionError, match="no command"):
        check_invocation(["data", "frobnicate"], "")
    assert check_invocation(["--home", "w", "data", "get", "d@1", "-o", "-"], "") == ("data", "get")


def root_help() -> str:
    return help_page(())


def test_root_help_lists_every_exit_code() -> None:
    listed = {int(line.split()[0]) for line in block(root_help(), "Exit codes")}
    constants = {v for k, v in vars(_app).items() if k.startswith("EXIT_") and isinstance(v, int)}
    raised: set[int] = set()
    todo: list[type[MlwardenError]] = [MlwardenError]
    while todo:
        kind = todo.pop()
        raised.add(kind.exit_code)
        todo.extend(kind.__subclasses__())
    assert listed == constants | raised == {0, 1, 2, 3, 70, 130}


def variables_the_code_reads() -> set[str]:
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r"\bMLWARDEN_[A-Z][A-Z0-9_]*[A-Z0-9]\b", text))
        # config._secret(env, NAME) also reads NAME_FILE.
        found |= {f"{name}_FILE" for name in re.findall(r"_secret\(\s*\w+,\s*\"(MLWARDEN_[A-Z_]+)\"", text)}
    return found - INTERNAL_VARIABLES


def test_root_help_lists_every_environment_variable() -> None:
    listed = [line.split()[0] for line in block(root_help(), "Environment")]
    assert len(listed) == len(set(listed))
    expected = variables_the_code_reads()
    assert {"MLWARDEN_HOME", "MLWARDEN_TOKEN_FILE", "MLWARDEN_NEW_MASTER_KEY", "MLWARDEN_CATALOG_URL"} <= expected
    assert set(listed) == expected
    for line in block(root_help(), "Environment"):
        assert len(line.split(maxsplit=1)) == 2, f"{line!r} says nothing about its variable"
