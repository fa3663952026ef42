"""What the documentation says about the inference server, held against the code and a served model.

Each test reads a fact where a reader finds it (``docs/serving.md``, ``deploy.md``, ``extraction.md``,
``formats.md``, ``access.md``, ``security-model.md``, the ``Dockerfile``) and compares it with the
code that makes it true: defaults with the constants and the CLI's options, the audit vocabulary of
``formats.md`` with the actions, reasons and detail keys the code can write (read from its syntax
tree, both ways), the option names in the docs with the ``mlwarden`` commands, the status codes and
JSON fields of the docs with what a served model answers, and the environment variables with what
the code reads. A change on either side that the other does not follow fails here, naming both.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from mlwarden.access import (
    DEFAULT_DAILY_QUOTA,
    DEFAULT_RATE_LIMIT,
    MAX_LIMIT,
    MAX_REASON,
    ROLES,
    check_limit,
    parse_token,
)
from mlwarden.errors import AccessDenied, BadInput, IntegrityError
from mlwarden.serve import OutputPolicy, ServeConfig, parse_output_policy

Served = Any  # tests/serve/conftest.py's Served (conftest modules are not imported by name)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "mlwarden"
MIB = 1024 * 1024
PREDICT = "/v1/models/credit-risk/predict"
CODE = re.compile(r"[a-z]+(?:-[a-z]+)*")  # an audit reason: lowercase words joined by hyphens
IDENT = re.compile(r"[a-z_]+")  # a JSON key as the docs write them


def doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def one(pattern: str, text: str, where: str) -> re.Match[str]:
    """The single match of ``pattern`` in ``text``; fails naming ``where`` if there is none or several."""
    found = list(re.finditer(pattern, text))
    assert len(found) == 1, f"expected exactly one match of {pattern!r} in {where}, found {len(found)}"
    return found[0]


def number(text: str) -> float:
    """``"50,000"``, ``"1e-9"``, ``"0.88"`` -> a float."""
    return float(text.replace(",", ""))


def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def section(text: str, heading: str) -> str:
    """The body of the Markdown section headed ``heading``, up to the next heading of its level or above."""
    level = len(heading.split(" ", 1)[0])
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1 :]
    end = re.search(rf"^#{{1,{level}}} ", rest, flags=re.MULTILINE)
    return rest if end is None else rest[: end.start()]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text`` (separator rows left out)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|") and not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line):
            rows.append([cell.strip() for cell in line[1:-1].split("|")])
    return rows


def without_parentheses(text: str) -> str:
    while True:
        shorter = re.sub(r"\([^()]*\)", "", text)
        if shorter == text:
            return text
        text = shorter


# --------------------------------------------------------------------------------------------
# defaults
# --------------------------------------------------------------------------------------------


def serve_command() -> click.Command:
    from mlwarden.cli import _serve  # noqa: F401  (registers the command)
    from mlwarden.cli._app import cli

    return cli.commands["serve"]


def option_default(command: click.Command, name: str) -> Any:
    [param] = [p for p in command.params if p.name == name]
    return param.default


def test_body_and_row_limits_in_the_docs_are_the_defaults() -> None:
    serve = serve_command()
    config = ServeConfig()
    serving, deploy = doc("serving.md"), doc("deploy.md")

    mib = number(one(r"`--max-body` \(default (\d+) MiB\)", serving, "serving.md").group(1))
    assert mib * MIB == config.max_body_bytes == option_default(serve, "max_body")
    assert number(one(r"\((\d+) MiB by default; checked on", deploy, "deploy.md").group(1)) * MIB == mib * MIB
    # The proxies' limits are set to the same value.
    assert number(one(r"client_max_body_size (\d+)m;", deploy, "deploy.md").group(1)) * MIB == config.max_body_bytes
    assert number(one(r"max_size (\d+)MiB", deploy, "deploy.md").group(1)) * MIB == config.max_body_bytes

    rows = number(one(r"1 to `--max-instances` \(default (\d+)\) rows", serving, "serving.md").group(1))
    assert rows == config.max_instances == option_default(serve, "max_instances")
    assert number(one(r"`--max-instances` rows\s+\((\d+) by default\)", deploy, "deploy.md").group(1)) == rows

    assert config.range_margin == option_default(serve, "range_margin") == 0.0


def test_host_port_and_output_defaults() -> None:
    serve = serve_command()
    config = ServeConfig()
    # "Without either, bind to loopback only (the default)."
    assert "bind to loopback only (the default)" in doc("security-model.md")
    assert config.host == option_default(serve, "host") == "127.0.0.1"
    assert config.port == option_default(serve, "port") == 8080
    assert "EXPOSE 8080" in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()

    digits = int(one(r"default `round:(\d+)`", doc("serving.md"), "serving.md").group(1))
    assert OutputPolicy().digits == digits
    assert not OutputPolicy().labels_only
    assert f"default round:{digits}" in (option_help(serve, "outputs") or "")
    low, high = (int(g) for g in one(r"N decimals, (\d+) to (\d+);", doc("serving.md"), "serving.md").groups())
    assert parse_output_policy(f"round:{low}")[1].digits == low
    assert parse_output_policy(f"round:{high}")[1].digits == high
    with pytest.raises(BadInput):
        parse_output_policy(f"round:{high + 1}")
    assert parse_output_policy("credit-risk=labels") == ("credit-risk", OutputPolicy(labels_only=True))


def option_help(command: click.Command, name: str) -> str | None:
    [param] = [p for p in command.params if p.name == name]
    assert isinstance(param, click.Option)
    return param.help


def test_default_limits_in_the_docs_are_the_constants() -> None:
    serving, access = doc("serving.md"), doc("access.md")
    rate, quota = one(r"Defaults (\d+)/min and ([\d,]+)/day", serving, "serving.md").groups()
    assert (number(rate), number(quota)) == (DEFAULT_RATE_LIMIT, DEFAULT_DAILY_QUOTA)
    rate, quota = one(
        r"`mlwarden\.access\.DEFAULT_RATE_LIMIT` = (\d+) per minute and `DEFAULT_DAILY_QUOTA` =\s+([\d,]+) per day",
        access,
        "access.md",
    ).groups()
    assert (number(rate), number(quota)) == (DEFAULT_RATE_LIMIT, DEFAULT_DAILY_QUOTA)
    assert "A limit is a whole number from 1 to 10^9" in access
    assert MAX_LIMIT == 10**9
    assert check_limit("1", "--quota") == 1
    assert check_limit(str(10**9), "--quota") == 10**9
    for bad in ("0", str(10**9 + 1), "1.5", "lots"):
        with pytest.raises(BadInput):
            check_limit(bad, "--quota")
    # formats.md: the suspension reason a record keeps, and the 200 characters the log keeps of it.
    assert int(one(r"reason at most (\d+) characters\)", doc("formats.md"), "formats.md").group(1)) == MAX_REASON
    assert "(cut to 200 characters)" in access


def test_the_extraction_parameter_table_is_the_monitors_defaults() -> None:
    from mlwarden.serve._extraction import ExtractionMonitor

    table = table_rows(section(doc("extraction.md"), "## Parameters"))
    assert table[0] == ["parameter", "default", "chosen because"]
    documented = {row[0].strip("`"): number(row[1]) for row in table[1:]}
    signature = inspect.signature(ExtractionMonitor.__init__)
    defaults = {name: p.default for name, p in signature.parameters.items() if name != "self"}
    assert documented == defaults
    monitor = ExtractionMonitor()
    assert {name: getattr(monitor, name) for name in documented} == documented


def test_the_compiled_paths_tolerance_is_the_documented_one() -> None:
    from mlwarden.serve import _compiled

    tolerance = number(one(r"probabilities agree within (\S+) and labels", doc("serving.md"), "serving.md").group(1))
    assert tolerance == _compiled._TOLERANCE


def test_check_exit_codes_are_the_documented_ones() -> None:
    from mlwarden.cli._app import EXIT_FINDINGS

    codes = one(r"exit (\d) all verify, (\d) some refused, (\d) none", doc("serving.md"), "serving.md").groups()
    assert tuple(int(c) for c in codes) == (0, EXIT_FINDINGS, IntegrityError.exit_code)
    assert "0 all verify, 1 some were refused, 3 none verify" in " ".join((serve_command().help or "").split())
    assert BadInput.exit_code == 2  # "none there: the server refuses to start, exit 2"
    assert "(none there: the server refuses to start, exit 2)" in " ".join(doc("serving.md").split())


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_exits_2_only_in_the_cases_serving_md_lists(
    served_copy: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each exit-2 case serving.md gives for `serve --check` happens, and every exit-2 error that
    the serving set-up can raise (each `raise BadInput` of serve/_config, _server, _loading) is
    among them: a new one fails here until the docs name it."""
    import socket

    from mlwarden.serve import check_setup

    text = " ".join(doc("serving.md").split())
    listed = one(r"and 2 when the set-up cannot work: ([^.]+)\.", text, "serving.md").group(1)
    # `mlwarden serve --help` gives the same list.
    assert f"2 the set-up cannot work: {listed.replace('`', '')}." in " ".join((serve_command().help or "").split())
    monkeypatch.setenv("MLWARDEN_MASTER_KEY", served_copy.settings.master_key)
    for name in ("MLWARDEN_PASSPHRASE", "MLWARDEN_PASSPHRASE_FILE", "MLWARDEN_MASTER_KEY_FILE", "MLWARDEN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    home = str(served_copy.settings.home)
    port = free_port()
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()

    def setup(**changes: Any) -> None:
        check_setup(ServeConfig(**{"port": port, "home": home, **changes}))

    def no_keys() -> None:
        with monkeypatch.context() as env:
            env.delenv("MLWARDEN_MASTER_KEY")
            setup(workers=2)

    def nothing_in_production() -> None:
        with served_copy.open() as ws:
            for model in ws.models.list():
                if model.stage == "production":
                    ws.models.promote(model.name, model.version, "archived")
        setup()

    cases: dict[str, list[Callable[[], object]]] = {
        "a malformed or out-of-range option": [
            lambda: parse_output_policy("everything"),
            lambda: parse_output_policy("round:16"),
            *(
                (lambda changes=changes: setup(**changes))
                for changes in (
                    {"port": 0},
                    {"workers": 0},
                    {"tls_cert": "cert.pem"},
                    {"max_body_bytes": 1},
                    {"max_instances": 0},
                    {"max_in_flight": 0},
                    {"refusals_per_minute": 0},
                    {"header_timeout": 0.0},
                    {"body_timeout": 0.0},
                    {"body_min_rate": -1},
                    {"body_grace": 100.0},
                    {"max_reading_per_token": 0},
                    {"max_in_flight_per_token": -1},
                    {"forwarded_allow_ips": ("*",)},
                    {"range_margin": -1.0},
                    {"reload_interval": 0.01},
                    {"drift_window": 0.5},
                )
            ),
        ],
        "TLS files missing or not loading": [
            lambda: setup(tls_cert="absent.pem", tls_key="absent.pem"),
            lambda: setup(tls_cert=str(tmp_path / "junk.pem"), tls_key=str(tmp_path / "junk.pem")),
        ],
        "the port not free": [lambda: setup(port=busy.getsockname()[1])],
        "a model named twice": [lambda: setup(models=("credit-risk", "credit-risk@1"))],
        "`--workers` above 1 without the keys in the environment": [no_keys],
        "no model in production": [nothing_in_production],
    }
    assert sorted(c.strip() for c in listed.split(", ")) == sorted(cases)
    messages: list[str] = []
    try:
        for case, makers in cases.items():
            for make in makers:
                with pytest.raises(BadInput) as refused:
                    make()
                assert refused.value.exit_code == 2, case
                messages.append(str(refused.value))
    finally:
        busy.close()
    for module in ("_config.py", "_server.py", "_loading.py"):
        for node in ast.walk(parsed(SRC / "serve" / module)):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                call = node.exc
                if isinstance(call.func, ast.Name) and call.func.id == "BadInput":
                    first = call.args[0]
                    parts = first.values if isinstance(first, ast.JoinedStr) else [first]
                    words = max((str(p.value) for p in parts if isinstance(p, ast.Constant)), key=len)
                    assert any(words in m for m in messages), f"{module}: {words!r} is not among the listed cases"


def test_the_checks_run_in_the_order_serving_md_gives() -> None:
    from mlwarden.serve._service import Service

    steps = [
        row[0] for row in table_rows(section(doc("serving.md"), "## What each prediction request passes, in order"))
    ]
    order = steps[1 : steps.index("monitor") + 1]
    # Where each step starts in Service.predict.
    marks = {
        "auth": "await self.authenticate(",
        "grant": 'who.allows("predict"',
        "limits": "self.limiter.take(",
        "body size": "await read_body(",
        "JSON": "loads_strict(body",
        "rows": "served.validator.validate(",
        "predict": "await served.batcher.predict(",
        "audit": "await self._record(",
        "monitor": "monitor.observe(",
    }
    assert order == list(marks)
    # _granted: once the model is granted; _answer: once the body is in.
    source = (
        inspect.getsource(Service.predict) + inspect.getsource(Service._granted) + inspect.getsource(Service._answer)
    )
    positions = [source.index(marks[step]) for step in order]
    assert positions == sorted(positions), dict(zip(order, positions, strict=True))


# --------------------------------------------------------------------------------------------
# the audit vocabulary of formats.md, against what the code can write
# --------------------------------------------------------------------------------------------


def server_table() -> dict[tuple[str, str], list[str]]:
    """formats.md's table of the server's entries: (action, first outcome) -> [principal, resource, details]."""
    text = section(
        doc("formats.md"),
        "## Access database, version 3 (`<home>/access.db`, SQLite in WAL mode, `synchronous=FULL`, mode 0600; "
        "`mlwarden._access_db`)",
    )
    start = text.index("The inference server's entries")
    rows = table_rows(text[start:])
    assert rows[0] == ["action", "outcome", "principal", "resource", "details"]
    table: dict[tuple[str, str], list[str]] = {}
    for action, outcome, principal, resource, details in rows[1:]:
        key = (action.strip("`"), backticked(outcome)[0])
        assert key not in table, f"formats.md lists {key} twice"
        table[key] = [principal, resource, details]
    return table


def reasons_of(cell: str) -> set[str]:
    """The reason codes a details cell lists after "`reason`:"."""
    _, _, after = cell.partition("`reason`:")
    return {code for code in backticked(without_parentheses(after)) if CODE.fullmatch(code)}


def keys_of(cell: str) -> set[str]:
    """The detail keys a cell names at its top level (what is in parentheses describes them)."""
    before = cell.partition("`reason`:")[0]
    return {key for key in backticked(without_parentheses(before).partition(";")[0]) if IDENT.fullmatch(key)}


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def calls(tree: ast.AST, name: str) -> Iterator[ast.Call]:
    """Calls of ``name(...)`` or ``x.name(...)``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if called == name:
                yield node


def code_constants(call: ast.Call) -> set[str]:
    """The string constants among a call's arguments that look like reason codes."""
    found = set()
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and CODE.fullmatch(arg.value):
            found.add(arg.value)
    return found


def audit_events(tree: ast.AST) -> list[dict[str, Any]]:
    """Each ``AuditEvent(...)`` call: ``action`` (``None`` when computed), ``outcome``, ``principal``, ``resource``
    (an f-string's literal head, a constant's name) and the detail keys."""
    events = []
    for call in [*calls(tree, "AuditEvent"), *calls(tree, "_record")]:
        fields: dict[str, Any] = {}
        for keyword in call.keywords:
            if keyword.arg in ("action", "outcome", "principal", "resource") and isinstance(
                keyword.value, ast.Constant
            ):
                fields[keyword.arg] = keyword.value.value
            elif keyword.arg == "action" and isinstance(keyword.value, ast.JoinedStr):
                fields["action"] = None
            elif keyword.arg in ("principal", "resource") and isinstance(keyword.value, ast.JoinedStr):
                head = keyword.value.values[0]  # f"model:{name}" -> "model:"
                fields[keyword.arg] = head.value if isinstance(head, ast.Constant) else None
            elif keyword.arg in ("principal", "resource") and isinstance(keyword.value, ast.Name):
                name = keyword.value.id  # a constant's name (SERVER_PRINCIPAL), or a variable: unknown
                fields[keyword.arg] = name if name.isupper() else None
            elif keyword.arg == "details" and isinstance(keyword.value, ast.Dict):
                fields["details"] = {k.value for k in keyword.value.keys if isinstance(k, ast.Constant)}
        if "outcome" in fields:  # not the one generic AuditEvent(...) inside Service._record
            events.append(fields)
    return events


def test_every_reason_formats_md_lists_is_one_the_code_writes_and_back() -> None:
    table = server_table()
    service = parsed(SRC / "serve" / "_service.py")

    auth = set().union(*(code_constants(c) for c in calls(service, "_refuse_token")))
    auth |= set().union(*(code_constants(c) for c in calls(parsed(SRC / "access" / "_principals.py"), "TokenRefused")))
    assert reasons_of(table[("auth.token", "denied")][2]) == auth

    denied = set().union(*(code_constants(c) for c in calls(service, "_deny")))
    denied |= {c.args[0].value for c in calls(parsed(SRC / "serve" / "_ratelimit.py"), "Refusal")}  # type: ignore[attr-defined]
    denied |= {c.args[1].value for c in calls(parsed(SRC / "serve" / "_admission.py"), "Busy")}  # type: ignore[attr-defined]
    assert reasons_of(table[("predict", "denied")][2]) == denied
    assert denied == {
        "not-granted",
        "rate",
        "quota",
        "reading-token",
        "reading-client",
        "busy-token",
        "busy",
        "explain-not-granted",
    }

    failed = set().union(*(code_constants(c) for c in calls(service, "_fail")))
    assert reasons_of(table[("predict", "failed")][2]) == failed

    # serving.md names the same codes where it describes the checks.
    serving = doc("serving.md")
    assert "Audited with reason `rate` or `quota`" in serving
    # access.md's table of token states names the codes of the CLI's refusals: all among these.
    states = table_rows(section(doc("access.md"), "### States and refusals"))
    assert {row[3].strip("`") for row in states[1:] if row[3] != "-"} <= auth


def test_every_action_formats_md_lists_is_one_the_server_writes_and_back() -> None:
    table = server_table()
    service = parsed(SRC / "serve" / "_service.py")
    events = audit_events(service)
    written = {e["action"] for e in events if e.get("action")}
    # The one computed action, f"serve.{what}", is written by refuse(who, WHAT, ...).
    app = parsed(SRC / "serve" / "_app.py")
    written |= {f"serve.{c.args[1].value}" for c in calls(app, "refuse")}  # type: ignore[attr-defined]
    written.add("model.serve")  # the operator's load, through the registry's gate
    assert "ws.models.prepare(" in (SRC / "serve" / "_loading.py").read_text(encoding="utf-8")
    assert 'permission="model.serve"' in (SRC / "models" / "_registry.py").read_text(encoding="utf-8")
    suspend = suspend_events()
    assert suspend, "ws.users.suspend_for_server no longer writes user.suspend"
    written.add("user.suspend")
    assert {action for action, _ in table} == written

    for event in events:
        if event.get("action") is None:
            continue
        cell = table[(event["action"], event["outcome"])][2]
        assert event["details"] <= keys_of(cell) | reasons_key(cell), (event, cell)
    # The rows whose keys the docs list in full, both ways.
    by_action = {(e["action"], e["outcome"]): e["details"] for e in events if e.get("action")}
    [metrics] = [e["details"] for e in events if e.get("action") is None]
    assert keys_of(table[("predict", "succeeded")][2]) == by_action[("predict", "succeeded")]
    assert keys_of(table[("monitor.extraction", "succeeded")][2]) == by_action[("monitor.extraction", "succeeded")]
    assert keys_of(table[("serve.metrics", "denied")][2]) == metrics
    assert keys_of(table[("user.suspend", "allowed")][2]) == suspend[0]["details"]


def suspend_events() -> list[dict[str, Any]]:
    """The ``user.suspend`` entry of ``UserService.suspend_for_server``: the server's own gate's ``act``."""
    tree = parsed(SRC / "_services" / "_users.py")
    [method] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "suspend_for_server"]
    assert any(isinstance(a, ast.Name) and a.id == "SERVER_PRINCIPAL" for c in calls(method, "system") for a in c.args)
    events = []
    for call in calls(method, "act"):
        action, resource = call.args[0], call.args[1]
        if isinstance(action, ast.Constant) and action.value == "user.suspend":
            head = resource.values[0] if isinstance(resource, ast.JoinedStr) else resource
            events.append(
                {
                    "action": "user.suspend",
                    "outcome": "allowed",
                    "principal": "SERVER_PRINCIPAL",
                    "resource": head.value if isinstance(head, ast.Constant) else None,
                    "details": {k.arg for k in call.keywords if k.arg is not None},
                }
            )
    return events


def reasons_key(cell: str) -> set[str]:
    return {"reason"} if "`reason`:" in cell else set()


def test_the_principals_and_resources_of_the_table_are_the_codes() -> None:
    from mlwarden.serve._service import SERVER_PRINCIPAL

    table = server_table()
    events = audit_events(parsed(SRC / "serve" / "_service.py"))
    events += suspend_events()
    checked = resources = 0
    for event in events:
        action = event.get("action") or "serve.metrics"  # the one computed action (see above)
        principal, resource, _ = table[(action, event["outcome"])]
        # A resource `model:{name}` in the table is the code's f"model:{...}"; `serve` is "serve".
        if event["resource"] is not None:  # None: computed (predict's denials: `model:{name}` or `model:-`)
            assert backticked(resource)[0].split("{")[0] == event["resource"], (action, resource, event)
            resources += 1
        # Where the table names the principal in backticks, the code writes exactly that one.
        if backticked(principal):
            written = SERVER_PRINCIPAL if event["principal"] == "SERVER_PRINCIPAL" else event["principal"]
            assert backticked(principal) == [written], (action, principal, event)
            checked += 1
    assert checked == 4  # auth.token ("-"); monitor.extraction, serve.refusals and user.suspend (mlwarden-serve)
    assert resources == len(events) - 1


# --------------------------------------------------------------------------------------------
# option names and environment variables
# --------------------------------------------------------------------------------------------


def command_tree() -> dict[tuple[str, ...], set[str]]:
    """Every ``mlwarden`` command path -> the long option names it takes."""
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
    from mlwarden.cli._app import cli

    tree: dict[tuple[str, ...], set[str]] = {}

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        tree[path] = {o for p in command.params for o in [*p.opts, *p.secondary_opts] if o.startswith("--")}
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, (*path, name))

    walk(cli, ())
    return tree


# Options of other tools that deploy.md shows on its command lines (docker, pip, uv).
OTHER_TOOLS = {
    "--rm", "--read-only", "--tmpfs", "--cap-drop", "--security-opt", "--entrypoint", "--env-file", "--name",
    "--restart", "--pids-limit", "--memory", "--format", "--no-deps", "--require-hashes", "--upgrade",
    "--upgrade-package", "--generate-hashes", "--python-version", "--python-platform", "--output-file",
}  # fmt: skip


@pytest.mark.parametrize(
    "name", ["serving.md", "deploy.md", "extraction.md", "access.md", "security-model.md", "formats.md"]
)
def test_every_option_the_docs_name_exists(name: str) -> None:
    tree = command_tree()
    text = doc(name)
    everywhere = set().union(*tree.values()) | {"--help"}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    unknown = named - everywhere - (OTHER_TOOLS if name == "deploy.md" else set())
    assert not unknown, f"{name} names options that no mlwarden command has: {sorted(unknown)}"

    # On a command line, each option belongs to the command it follows.
    checked = 0
    for match in re.finditer(r"\b(?:mlwarden|mlw) ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?([^`#|\n]*)", text):
        first, second, rest = match.groups()
        path: tuple[str, ...] = (first,)
        if path not in tree:
            continue
        if second is not None and (first, second) in tree:
            path = (first, second)
        elif second is not None:
            rest = f"{second}{rest}"
        for option in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest):
            assert option in tree[path], (
                f"{name}: `mlwarden {' '.join(path)}` has no option {option}: {match.group(0)!r}"
            )
            checked += 1
    assert checked or name in ("extraction.md", "formats.md", "security-model.md")


SECRETS = ("MLWARDEN_MASTER_KEY", "MLWARDEN_PASSPHRASE", "MLWARDEN_TOKEN")  # the ones with a NAME_FILE form


def test_every_environment_variable_the_docs_name_is_read() -> None:
    text = "".join(doc(n) for n in ("serving.md", "deploy.md", "access.md", "security-model.md", "formats.md"))
    source = "".join(p.read_text(encoding="utf-8") for p in SRC.rglob("*.py"))
    named = set(re.findall(r"MLWARDEN_[A-Z_]*[A-Z]", text))
    assert {"MLWARDEN_TOKEN", "MLWARDEN_MASTER_KEY", "MLWARDEN_PASSPHRASE", "MLWARDEN_HOME"} <= named
    files = {v for v in named if v.endswith("_FILE")}
    assert files <= {f"{secret}_FILE" for secret in SECRETS}  # each read as the next test shows
    for variable in sorted(named - files):
        assert f'"{variable}"' in source, f"the docs name {variable}, which no module reads"


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_file_named_in_deploy_md_is_read_with_one_trailing_newline_dropped(
    secret: str, tmp_path: Path
) -> None:
    from mlwarden.config import Settings

    assert f"`{secret}_FILE`" in doc("deploy.md") or f"{secret}_FILE=" in doc("deploy.md")
    assert "one trailing newline in the file is ignored" in doc("deploy.md")
    path = tmp_path / "secret"
    path.write_text("s3cret value\n\n", encoding="utf-8")
    settings = Settings.from_env(home=tmp_path, environ={f"{secret}_FILE": str(path)})
    field = {"MLWARDEN_MASTER_KEY": "master_key", "MLWARDEN_PASSPHRASE": "passphrase", "MLWARDEN_TOKEN": "token"}
    assert getattr(settings, field[secret]) == "s3cret value\n"  # one newline dropped, not two
    # The plain variable wins when both are set.
    both = Settings.from_env(home=tmp_path, environ={secret: "plain", f"{secret}_FILE": str(path)})
    assert getattr(both, field[secret]) == "plain"


def test_forwarded_headers_are_believed_only_from_the_proxies_deploy_md_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off by default, whatever uvicorn's own FORWARDED_ALLOW_IPS says; on for the addresses named."""
    import uvicorn
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from mlwarden.serve import ServeConfig
    from mlwarden.serve._server import uvicorn_options

    deploy = " ".join(doc("deploy.md").split())
    assert "`--forwarded-allow-ips` (off by default)" in deploy
    assert "`FORWARDED_ALLOW_IPS` is ignored" in deploy

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never called
        return None

    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    plain = uvicorn.Config(app, **uvicorn_options(ServeConfig()))
    plain.load()
    assert not isinstance(plain.loaded_app, ProxyHeadersMiddleware)
    named = uvicorn.Config(app, **uvicorn_options(ServeConfig(forwarded_allow_ips=("10.0.0.5", "10.1.0.0/16"))))
    named.load()
    assert isinstance(named.loaded_app, ProxyHeadersMiddleware)
    assert named.forwarded_allow_ips == ["10.0.0.5", "10.1.0.0/16"]


# --------------------------------------------------------------------------------------------
# the image
# --------------------------------------------------------------------------------------------


def test_the_dockerfile_is_the_image_deploy_md_describes() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    deploy = " ".join(doc("deploy.md").split())
    lines = dockerfile.splitlines()

    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, flags=re.MULTILINE)
    assert base is not None
    assert f"`{base.group(1)}`" in deploy
    uid = re.search(r"^ARG MLWARDEN_UID=(\d+)$", dockerfile, flags=re.MULTILINE)
    assert uid is not None
    assert f"(uid and gid {uid.group(1)})" in deploy
    assert f"uid {uid.group(1)}" in deploy
    assert "USER ${MLWARDEN_UID}:${MLWARDEN_UID}" in lines
    assert "MLWARDEN_HOME=/data" in dockerfile
    assert "`MLWARDEN_HOME=/data`" in deploy
    assert "HOME=/tmp" in dockerfile
    assert "`HOME=/tmp`" in deploy
    assert "pip install --no-deps --require-hashes -r" in dockerfile
    [entry] = [line for line in lines if line.startswith("ENTRYPOINT ")]
    argv = json.loads(entry.removeprefix("ENTRYPOINT "))
    assert argv == ["mlwarden", "serve", "--host", "0.0.0.0", "--port", "8080"]  # noqa: S104
    assert f"Its entrypoint is `{' '.join(argv)}`" in deploy
    assert "http://127.0.0.1:8080/healthz" in dockerfile
    assert "https://127.0.0.1:8080/healthz" in dockerfile
    # No key, passphrase or token anywhere but in comments (so in no ENV or ARG).
    for line in lines:
        if not line.startswith("#"):
            assert not re.search(r"PASSPHRASE|MASTER_KEY|TOKEN", line), line

    # .dockerignore is an allow-list of exactly what deploy.md says the image copies.
    ignore = [line for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line]
    rules = [line for line in ignore if not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {line[1:] for line in rules if line.startswith("!")}
    sentence = one(r"The Dockerfile copies only ([^(]+) \(`\.dockerignore` is an allow-list\)", deploy, "deploy.md")
    assert set(backticked(sentence.group(1))) == allowed


# --------------------------------------------------------------------------------------------
# a served model: status codes, answers, entries, metrics
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client_and_service(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Served]]:
    """One service over a private copy of ``served`` (its predictions go to the copy's log) and its client."""
    from fastapi.testclient import TestClient

    from mlwarden.serve import Service, create_app

    where = served.copy(tmp_path_factory.mktemp("docs-claims") / "ws")
    ws = where.open(where.tokens["operator"])
    service = Service.start(ServeConfig(), ws)
    with TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test") as client:
        yield client, service, where
    ws.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_status_code_the_docs_give_predict_is_in_the_openapi_document(
    client_and_service: tuple[Any, Any, Served],
) -> None:
    client, _, served = client_and_service
    serving = doc("serving.md")
    api = {row[0]: row for row in table_rows(section(serving, "## API"))}
    listed = {int(code) for code in re.findall(r"\d{3}", api["`POST /v1/models/{name}/predict`"][2])}
    steps = table_rows(section(serving, "## What each prediction request passes, in order"))
    refused = {int(code) for row in steps[1:] if len(row) == 3 for code in re.findall(r"\b\d{3}\b", row[1])}
    assert refused <= listed

    document = client.get("/openapi.json", headers=bearer(served.tokens["client-credit"]))
    assert document.status_code == 200
    openapi = document.json()
    assert openapi["openapi"].startswith("3.1")  # "OpenAPI 3.1"
    responses = openapi["paths"][PREDICT]["post"]["responses"]
    assert {int(code) for code in responses} == listed
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    # It describes only the models this token may use.
    assert "/v1/models/fraud-risk/predict" not in openapi["paths"]


def test_the_answers_fields_are_the_documented_ones(client_and_service: tuple[Any, Any, Served]) -> None:
    client, _, served = client_and_service
    serving = doc("serving.md")
    token = served.tokens["client-credit"]

    # The example answer of serving.md's introduction has the fields of a real one.
    example = re.search(r"^(\{\"predictions\".*?)\n```", serving, flags=re.MULTILINE | re.DOTALL)
    assert example is not None
    documented = json.loads(" ".join(example.group(1).split("\n")))
    answer = client.post(PREDICT, json={"instances": [served.rows[0]]}, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == set(documented)
    assert set(body["model"]) == set(documented["model"])
    assert len(body["request_id"]) == len(documented["request_id"])

    # GET /v1/models: the keys the API table names for each model.
    api = {row[0]: row for row in table_rows(section(serving, "## API"))}
    keys = {k for k in backticked(without_parentheses(api["`GET /v1/models`"][2])) if IDENT.fullmatch(k)}
    listed = client.get("/v1/models", headers=bearer(token)).json()
    assert set(listed) == {"models"}
    [model] = listed["models"]
    assert set(model) == keys

    # /healthz: exactly what the table says, without a token.
    health = client.get("/healthz")
    assert (health.status_code, health.content) == (200, b'{"status":"ok"}')

    # 401 carries WWW-Authenticate: Bearer; an error is {"error": one line}.
    refused = client.post(PREDICT, json={"instances": [served.rows[0]]})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert list(refused.json()) == ["error"]
    assert "\n" not in refused.json()["error"]
    # What serving.md says of paths and methods that are not in its table: 404 and 405 in the same shape.
    for method, path, status in (("GET", "/no-such-path", 404), ("GET", PREDICT, 405)):
        other = client.request(method, path, headers=bearer(token))
        assert other.status_code == status
        assert list(other.json()) == ["error"], "serving.md says these are {'error': ...}: update it"
    assert "POST" in client.request("GET", PREDICT, headers=bearer(token)).headers["allow"]


def test_the_prediction_entry_has_the_documented_fields(client_and_service: tuple[Any, Any, Served]) -> None:
    client, _, served = client_and_service
    token = served.tokens["client-credit"]
    answer = client.post(PREDICT, json={"instances": served.rows[:2]}, headers=bearer(token))
    assert answer.status_code == 200, answer.text
    request_id = answer.json()["request_id"]
    with served.open(served.tokens["auditor"]) as ws:
        [entry] = [e for e in ws.log.entries() if e.request_id == request_id]

    table = table_rows(section(doc("serving.md"), "### The audit entry of a prediction"))
    fields = {name for row in table[1:] for name in re.findall(r"`details\.([a-z_]+)`", row[0])}
    assert set(entry.details) == fields
    assert keys_of(server_table()[("predict", "succeeded")][2]) == fields
    assert entry.action == "predict"
    assert entry.outcome == "succeeded"
    assert entry.resource == "model:credit-risk"
    assert entry.principal == "c-credit"
    assert entry.details["token"] == parse_token(token).token_id  # type: ignore[union-attr]
    assert entry.details["instances"] == 2
    assert json.loads(entry.details["output"]) == {
        "predictions": answer.json()["predictions"],
        "probabilities": answer.json()["probabilities"],
    }
    # The stored entry's key is `request`; `log show --json` calls it `request_id` (serving.md says both).
    assert json.loads(entry.to_bytes())["request"] == request_id
    assert entry.to_json()["request_id"] == request_id
    assert "| `request` (`request_id` in `--json`) |" in doc("serving.md")


_MAYBE_UNSAMPLED = (
    "mlwarden_extraction_alerts_total",
    "mlwarden_model_reloads_total",
    "mlwarden_drift_psi",
    "mlwarden_drift_p_value",
    "mlwarden_drift_detected",
    "mlwarden_drift_rows",
    "mlwarden_drift_window_failures_total",
    "mlwarden_explanations_total",
    "mlwarden_explanation_failures_total",
)


def test_the_metrics_serving_md_names_are_the_ones_exported(client_and_service: tuple[Any, Any, Served]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from mlwarden.serve._metrics import STAGES

    client, _, served = client_and_service
    client.post(PREDICT, json={"instances": [served.rows[0]]}, headers=bearer(served.tokens["client-credit"]))
    client.post(PREDICT, json={"instances": []}, headers=bearer(served.tokens["client-credit"]))
    text = client.get("/metrics", headers=bearer(served.tokens["auditor"]))
    assert text.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(text.text)}

    metrics = section(doc("serving.md"), "## Metrics")
    documented = dict(re.findall(r"`(mlwarden_[a-z_]+?)(?:\{([a-z,]+)\})?`", metrics))
    exported: dict[str, str] = {}
    for family in families.values():
        if family.name.endswith("_created"):
            continue  # prometheus_client's creation times, not metrics of their own
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for s in family.samples for k in s.labels} - {"quantile"}
        exported[name] = ",".join(sorted(labels))
    assert set(documented) == set(exported)
    for name, labels in documented.items():
        if name in _MAYBE_UNSAMPLED and not exported[name]:
            continue  # no alert or explanation yet, so no sample whose labels could be read
        assert set(filter(None, labels.split(","))) == set(filter(None, exported[name].split(","))), name

    flat = " ".join(metrics.split())
    stages = tuple(one(r"`mlwarden_stage_seconds\{stage\}` \(([a-z, ]+):", flat, "serving.md").group(1).split(", "))
    assert stages == STAGES
    in_deploy = one(r"\((auth, [a-z, ]+)\); `benchmarks/serving\.py`", " ".join(doc("deploy.md").split()), "deploy.md")
    assert tuple(in_deploy.group(1).split(", ")) == STAGES
    seen = {s.labels["stage"] for s in families["mlwarden_stage_seconds"].samples}
    assert seen == set(STAGES)


def test_metrics_need_log_read_or_model_serve(client_and_service: tuple[Any, Any, Served]) -> None:
    client, _, served = client_and_service
    assert "`GET /metrics` | a token with `log.read` or `model.serve`" in doc("serving.md")
    for role in ROLES:
        answer = client.get("/metrics", headers=bearer(served.tokens[role]))
        may = bool({"log.read", "model.serve"} & ROLES[role])
        assert answer.status_code == (200 if may else 403), role


# --------------------------------------------------------------------------------------------
# access.md's examples of the CLI
# --------------------------------------------------------------------------------------------


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], where: Served, *args: str, token: str
) -> tuple[int, str, str]:
    """Run ``mlwarden ARGS`` in this process as ``token`` on ``where``: (exit code, stdout, stderr)."""
    from mlwarden.cli._app import main

    monkeypatch.setenv("MLWARDEN_HOME", str(where.settings.home))
    monkeypatch.setenv("MLWARDEN_MASTER_KEY", where.settings.master_key)
    monkeypatch.setenv("MLWARDEN_TOKEN", token)
    monkeypatch.delenv("MLWARDEN_PASSPHRASE", raising=False)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


def test_access_md_shows_what_user_limits_and_a_suspended_token_print(
    served_copy: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    access = doc("access.md")
    admin = served_copy.tokens["admin"]
    with served_copy.open(admin) as ws:
        _, scorer = ws.users.add("scorer", "client", kind="service", rate_limit=120, daily_quota=10_000)

    shown = one(r"\n(limits of scorer: [^\n]+)\n", access, "access.md").group(1)
    code, out, _ = run_cli(monkeypatch, capsys, served_copy, "user", "limits", "scorer", token=admin)
    assert (code, out.strip()) == (0, shown)

    code, _, _ = run_cli(monkeypatch, capsys, served_copy, "user", "suspend", "scorer", "--reason", "why", token=admin)
    assert code == 0
    example = one(r"\n(mlwarden: error: MLWARDEN_TOKEN was refused: [^\n]+)\n", access, "access.md").group(1)
    pattern = re.escape(example)
    pattern = pattern.replace(re.escape("2026-11-25T10:02:11.482913Z"), r"\S+Z")
    pattern = pattern.replace(re.escape("mlwarden-serve (extraction monitor: ...)"), r"\S+ \(.*\)")
    code, _, err = run_cli(monkeypatch, capsys, served_copy, "data", "ls", token=scorer)
    assert code == AccessDenied.exit_code == 3
    assert re.fullmatch(pattern, err.strip()), (pattern, err)


def test_the_serving_quick_start_client_command_is_accepted() -> None:
    """serving.md's `mlwarden user add app --role client --scope 'credit-*' --rate-limit 120 --quota 20000` parses."""
    from mlwarden.cli import _users  # noqa: F401
    from mlwarden.cli._app import cli

    line = one(r"`(mlwarden user add app [^`]+)`", " ".join(doc("serving.md").split()), "serving.md").group(1)
    args = [a.strip("'") for a in line.split()[1:]]
    context = cli.make_context("mlwarden", args, resilient_parsing=True)
    user = cli.commands["user"]
    assert isinstance(user, click.Group)
    sub = user.make_context("user", args[1:], parent=context, resilient_parsing=True)
    add = user.commands["add"].make_context("add", args[2:], parent=sub)
    assert add.params["role"] == "client"
    assert add.params["scopes"] == ("credit-*",)
    assert (add.params["rate_limit"], add.params["quota"]) == ("120", "20000")
