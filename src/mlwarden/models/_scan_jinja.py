"""The judge of Jinja chat templates: an allow-list over Jinja's own parse tree (the template is never rendered).

A template is *plain* when every node of ``jinja2``'s parse tree is one a chat template needs and none can
reach Python objects beyond the data it is given: text and constants, lists/tuples/dicts, variable lookups and
assignments, ``for`` / ``if`` / ``set`` / ``macro`` / ``with`` / ``filter`` blocks, ``break`` / ``continue``,
comparisons, boolean and arithmetic operators, ``~`` and ``a if b else c``, plus:

- attribute lookups (``x.name``) and subscripts (``x['name']``, ``x[0]``, ``x[1:]``) whose name or key is a
  constant that is not ``_``-prefixed and not an introspection attribute (``gi_frame``, ``f_globals``, ``mro``...):
  Jinja's lookups fall back from item to attribute and back, so a key is an attribute name too. A subscript may
  also be an integer expression over ``loop.index0``-style counters (``messages[loop.index0 - 1]``), which can
  never name an attribute; and any key into a lookup table (a name only ever set to a dict literal of constants)
  whose result is only printed, tested or joined to text, as tool templates map JSON types to Python ones;
- filters on :data:`_FILTERS` (pure functions of their input) and tests on :data:`_TESTS`; the filters that take
  an attribute path or another filter's or test's name (``map``, ``selectattr``, ``join(attribute=...)``...) only
  with constant, checked arguments;
- calls of the string/dict methods in :data:`_METHODS`, of ``raise_exception`` / ``strftime_now`` (functions the
  loaders provide), ``namespace(...)`` / ``range(...)``, and of macros the template defines (their bodies are
  judged like the rest).

Anything else is not plain. It is CRITICAL when it reaches Python internals: an attribute or constant key that
starts with ``_`` or is an introspection name, a string the template builds (``'_'*2 + 'class' + '_'*2``, also
through ``{% set %}``) that could name one, the ``attr`` filter, the globals SSTI payloads start from (``cycler``,
``joiner``, ``lipsum``, ``self``, ``config``, ``request``...), or ``import`` / ``include`` / ``extends``. Else it is
MEDIUM: a construct (a dynamic key, an unknown filter or call, any mention of ``format`` / ``format_map``, whose
fields reach attributes) the judge cannot prove data-only. A template Jinja cannot parse is MEDIUM too (another
loader's Jinja may still accept it), and so is one over 256 KiB (not judged: real ones are a few KiB).

Out of scope: what the rendered text says (a prompt is data), and render-time cost (``range(10**9)``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any

from mlwarden.models._findings import Severity

__all__ = ["TemplateVerdict", "judge_template"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Each a pure function of the value it filters: no attribute lookup by a name the template chooses, no call of a
# value (those that take an attribute path or a filter/test name are checked argument by argument, _ATTR_ARGS).
_FILTERS = _words(
    "abs batch capitalize center count d default dictsort e escape first float indent int items join last "
    "length list lower max min reject rejectattr replace reverse round safe select selectattr slice sort "
    "string sum title tojson trim truncate unique upper wordcount map groupby"
)
# Filters map() may apply by name: those that take no attribute path and no other filter's or test's name.
_SIMPLE_FILTERS = (
    _FILTERS
    - {"join", "sort", "unique", "min", "max", "sum", "groupby", "map"}
    - {
        "select",
        "reject",
        "selectattr",
        "rejectattr",
    }
)
# Filter -> positions of its arguments (after the value) that Jinja's make_attrgetter reads as attribute paths.
_ATTR_ARGS: dict[str, tuple[int, ...]] = {
    "join": (1,),
    "sort": (2,),
    "unique": (1,),
    "min": (1,),
    "max": (1,),
    "sum": (0,),
    "groupby": (0,),
    "selectattr": (0,),
    "rejectattr": (0,),
    "map": (),
}
# Jinja's built-in tests: predicates on a value (``filter`` / ``test`` only check a name exists).
_TESTS = _words(
    "boolean callable defined divisibleby eq equalto escaped even false filter float ge greaterthan gt in "
    "integer iterable le lessthan lower lt mapping ne none number odd sameas sequence string test true "
    "undefined upper == != > >= < <="
)
# Methods of str/dict that return data (str.format is not here: its fields reach attributes).
_METHODS = _words(
    "strip lstrip rstrip startswith endswith split rsplit splitlines upper lower title capitalize replace "
    "items keys values get count find rfind index join isdigit isalpha isspace"
)
# raise_exception: HF transformers and llama-cpp-python raise a TemplateError; strftime_now: HF's formatted
# date; namespace / range: Jinja's own.
_FUNCTIONS = frozenset({"raise_exception", "strftime_now", "namespace", "range"})
# The globals SSTI payloads start from (Jinja's helpers whose functions carry __globals__, Flask's context).
_DANGEROUS_NAMES = frozenset(
    {"cycler", "joiner", "lipsum", "self", "config", "request", "url_for", "get_flashed_messages", "environment"}
)
# Attributes that reach frames, code and class hierarchies without a leading underscore.
_INTROSPECTION = _words(
    "mro gi_frame gi_code gi_yieldfrom cr_frame cr_code cr_await ag_frame ag_code f_globals f_builtins f_locals "
    "f_back f_code tb_frame tb_next co_code co_consts func_globals func_code im_func im_self im_class"
)
# Methods that look attributes up by the names in their argument: not plain wherever they are named (a bound
# str.format kept in a namespace could be called through an allowed method name such as ns.get).
_FORMATTERS = frozenset({"format", "format_map"})
# loop attributes that are integers: an index computed from them never names an attribute.
_LOOP_INTS = frozenset({"index", "index0", "revindex", "revindex0", "length", "depth", "depth0"})
_TAGS = {"FromImport": "from ... import", "CallBlock": "call", "ExprStmt": "do", "Block": "block"}
_CRITICAL_NODES = ("Import", "FromImport", "Include", "Extends")
_PLAIN_NODES = _words(
    "Template Output TemplateData Const List Tuple Dict Pair Keyword For If Assign AssignBlock With Scope "
    "FilterBlock Break Continue Compare Operand And Or Not Neg Pos Add Sub Mul Div FloorDiv Mod Pow Concat "
    "CondExpr Slice"
)
_WIDTH = re.compile(r"%[^a-zA-Z%]*[\d*]")  # a %-format with a width: folding it could allocate without bound
_FOLD_LIMIT = 4096
# Real chat templates are a few KiB (tool-use ones up to ~40); Jinja parses about 250 KiB a second.
_MAX_TEMPLATE = 256 * 1024
_STRING_FILTERS: dict[str, Callable[[str], str]] = {
    "lower": str.lower,
    "upper": str.upper,
    "trim": str.strip,
    "string": str,
    "reverse": lambda v: v[::-1],
    "first": lambda v: v[:1],
    "last": lambda v: v[-1:],
}


@dataclasses.dataclass(frozen=True)
class TemplateVerdict:
    """``severity`` is None for a plain template; ``reasons`` name what kept it from being plain."""

    severity: Severity | None
    reasons: tuple[str, ...]


def internal(name: str) -> bool:
    """Whether an attribute name reaches Python internals."""
    return name.startswith("_") or "__" in name or name in _INTROSPECTION


class _Impossible(Exception):
    pass


class _Judge:
    def __init__(self, nodes: Any) -> None:
        self.n = nodes
        self.critical: list[str] = []
        self.medium: list[str] = []
        self.assigned: dict[str, list[Any]] = {}
        self.stored: set[str] = set()
        self.macros: set[str] = set()
        self.folded: dict[int, Any] = {}
        self.parents: dict[int, Any] = {}
        self.stores: dict[str, int] = {}

    def collect(self, tree: Any) -> None:
        n = self.n
        for node in tree.find_all(n.Name):
            if node.ctx in ("store", "param"):
                self.stored.add(node.name)
                self.stores[node.name] = self.stores.get(node.name, 0) + 1
        for node in tree.find_all(n.Getitem):
            for child in node.iter_child_nodes():
                self.parents[id(child)] = node
        for node in tree.find_all((n.Output, n.Test, n.Concat, n.Add)):
            for child in node.iter_child_nodes():
                self.parents[id(child)] = node
        for node in tree.find_all(n.Assign):
            if isinstance(node.target, n.Name):
                self.assigned.setdefault(node.target.name, []).append(node.node)
        for node in tree.find_all(n.Macro):
            self.macros.add(node.name)

    def walk(self, tree: Any) -> None:
        stack = [tree]
        while stack:
            node = stack.pop()
            self.judge(node)
            stack.extend(reversed(list(node.iter_child_nodes())))  # reasons in the template's order

    def judge(self, node: Any) -> None:
        n, kind = self.n, type(node).__name__
        if kind in _PLAIN_NODES:
            return
        if kind in _CRITICAL_NODES:
            self.critical.append(f"{{% {_TAGS.get(kind, kind.lower())} %}}, which loads another template")
        elif isinstance(node, n.Name):
            if node.name in _DANGEROUS_NAMES or "__" in node.name:
                self.critical.append(f"the global {node.name!r}")
        elif isinstance(node, n.NSRef):
            self.attribute(node.attr, f"namespace attribute {node.attr!r}")
        elif isinstance(node, n.Getattr):
            self.attribute(node.attr, f"attribute {node.attr!r}")
        elif isinstance(node, n.Getitem):
            self.subscript(node)
        elif isinstance(node, n.Filter):
            self.filter(node)
        elif isinstance(node, n.Test):
            if node.name not in _TESTS:
                self.medium.append(f"the test {node.name!r}")
        elif isinstance(node, n.Call):
            self.call(node)
        elif isinstance(node, n.Macro):
            if node.name in _DANGEROUS_NAMES or internal(node.name):
                self.critical.append(f"a macro named {node.name!r}")
        else:
            self.medium.append(
                f"{{% {_TAGS.get(kind, kind)} %}}" if isinstance(node, n.Stmt) else f"a {kind} expression"
            )

    def attribute(self, name: str, what: str) -> None:
        if internal(name):
            self.critical.append(what)
        elif name in _FORMATTERS:
            self.medium.append(f"{what} (str.format reaches attributes through its fields)")

    def subscript(self, node: Any) -> None:
        n, arg = self.n, node.arg
        if isinstance(arg, n.Const) and isinstance(arg.value, str):
            self.attribute(arg.value, f"key {arg.value!r}")
        elif isinstance(arg, n.Slice) or self.integer(arg):
            return
        elif not self.dangerous_string(arg, "a key built as {!r}") and not self.lookup_table(node):
            self.medium.append("a key computed at render time")

    def lookup_table(self, node: Any) -> bool:
        """``table[key]`` with any key, where ``table`` is only ever a dict literal of constants and the result is
        only printed, tested, or joined to text (``{% set m = {"string": "str"} %}{{ m[spec.type] }}``, as tool
        templates map JSON types). A key the dict lacks makes Jinja look up an attribute of the dict instead; what
        that can find (a method, the dict class) is turned into text or a truth value, never kept or called."""
        n, table = self.n, node.node
        if not isinstance(table, n.Name) or not isinstance(
            self.parents.get(id(node)), (n.Output, n.Test, n.Concat, n.Add)
        ):
            return False
        values = self.assigned.get(table.name, [])
        if not values or self.stores.get(table.name, 0) != len(values):
            return False
        return all(
            isinstance(value, n.Dict)
            and all(isinstance(p.key, n.Const) and isinstance(p.value, n.Const) for p in value.items)
            for value in values
        )

    def integer(self, node: Any) -> bool:
        """Whether ``node`` can only be an integer (so, as a key, never an attribute name)."""
        n = self.n
        if isinstance(node, n.Const):
            return isinstance(node.value, int) and not isinstance(node.value, bool)
        if isinstance(node, (n.Neg, n.Pos)):
            return self.integer(node.node)
        if isinstance(node, (n.Add, n.Sub, n.Mul, n.FloorDiv, n.Mod)):
            return self.integer(node.left) and self.integer(node.right)
        if isinstance(node, n.Getattr) and isinstance(node.node, n.Name):
            return node.node.name == "loop" and "loop" not in self.stored and node.attr in _LOOP_INTS
        if isinstance(node, n.Filter):  # int('...') returns its default when the value is not a number
            plain = not (node.args or node.kwargs or node.dyn_args or node.dyn_kwargs)
            return node.name in ("length", "count", "int") and node.node is not None and plain
        return False

    def filter(self, node: Any) -> None:
        n, name = self.n, node.name
        if name == "attr":
            self.critical.append("the 'attr' filter (an attribute by a computed name)")
            return
        if name not in _FILTERS:
            self.medium.append(f"the filter {name!r}")
            return
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            self.medium.append(f"the filter {name!r} with *args/**kwargs")
            return
        args = list(node.args)
        paths = [args[i] for i in _ATTR_ARGS.get(name, ()) if i < len(args)]
        paths += [kw.value for kw in node.kwargs if kw.key == "attribute"]
        # map() applies a filter by name whenever it has a positional argument, else reads attribute=...
        if name in ("select", "reject", "selectattr", "rejectattr") or (name == "map" and args):
            at = 1 if name.endswith("attr") else 0
            named = args[at] if at < len(args) else None
            table = _SIMPLE_FILTERS if name == "map" else _TESTS
            if named is not None:
                if not (isinstance(named, n.Const) and isinstance(named.value, str)):
                    self.medium.append(f"the filter {name!r} with a computed filter or test name")
                elif named.value == "attr":
                    self.critical.append(f"the 'attr' filter through {name!r}")
                elif named.value not in table:
                    self.medium.append(f"the filter {name!r} applying {named.value!r}")
        for path in paths:
            if isinstance(path, n.Const) and isinstance(path.value, int):
                continue
            if not (isinstance(path, n.Const) and isinstance(path.value, str)):
                self.medium.append(f"the filter {name!r} with a computed attribute")
                continue
            for part in path.value.split("."):
                self.attribute(part, f"attribute {part!r} through the filter {name!r}")

    def call(self, node: Any) -> None:
        n, func = self.n, node.node
        if isinstance(func, n.Getattr) and func.attr in _METHODS:
            return
        if isinstance(func, n.Name) and (
            (func.name in _FUNCTIONS or func.name in self.macros) and func.name not in self.stored
        ):
            return
        formats = isinstance(func, n.Getattr) and func.attr in _FORMATTERS
        if formats and any(self.dangerous_string(x, "a format string {!r}") for x in (func.node, *node.args)):
            return
        if isinstance(func, (n.Getattr, n.Name)):
            self.medium.append(f"a call of {func.attr if isinstance(func, n.Getattr) else func.name!r}")
        else:
            self.medium.append("a call of a computed value")

    def dangerous_string(self, node: Any, what: str = "the string {!r}") -> bool:
        """Record (CRITICAL) a string the template builds from constants that could name an internal."""
        try:
            value = self.fold(node, 0)
        except _Impossible:
            return False
        if isinstance(value, str) and len(value.strip()) > 1 and internal(value.strip()):
            self.critical.append(what.format(value[:60]))
            return True
        return False

    def escalate(self, tree: Any) -> None:
        """A template that is not plain and holds or builds a string naming an internal: it can reach it."""
        n = self.n
        for node in tree.find_all((n.Const, n.Add, n.Mul, n.Mod, n.Concat, n.Filter)):
            if isinstance(node, n.Const) and not isinstance(node.value, str):
                continue
            if self.dangerous_string(node, "the string {!r}, with constructs that can look it up"):
                return

    def fold(self, node: Any, depth: int) -> Any:
        """Evaluate an expression built from constants alone (bounded); raise _Impossible otherwise."""
        if depth > 32:
            raise _Impossible
        key = id(node)
        if key in self.folded:
            value = self.folded[key]
            if value is _Impossible:
                raise _Impossible
            return value
        self.folded[key] = _Impossible  # a cycle through {% set %} folds to nothing
        value = self._fold(node, depth + 1)
        if isinstance(value, (str, list, tuple)) and len(value) > _FOLD_LIMIT:
            raise _Impossible
        self.folded[key] = value
        return value

    def _fold(self, node: Any, depth: int) -> Any:
        n = self.n
        if isinstance(node, n.Const) and isinstance(node.value, (str, int)):
            return node.value
        if isinstance(node, (n.List, n.Tuple)):
            return [self.fold(item, depth) for item in node.items]
        if isinstance(node, n.Name) and len(self.assigned.get(node.name, ())) == 1:
            return self.fold(self.assigned[node.name][0], depth)
        if isinstance(node, n.Concat):
            return "".join(str(self.fold(item, depth)) for item in node.nodes)
        if isinstance(node, (n.Add, n.Mul, n.Mod)):
            left, right = self.fold(node.left, depth), self.fold(node.right, depth)
            return self._binary(type(node).__name__, left, right)
        if isinstance(node, n.Getitem) and isinstance(node.arg, n.Const) and isinstance(node.arg.value, int):
            value = self.fold(node.node, depth)
            if isinstance(value, (str, list)) and -len(value) <= node.arg.value < len(value):
                return value[node.arg.value]
        if isinstance(node, n.Filter) and node.node is not None and not node.kwargs:
            value = self.fold(node.node, depth)
            args = [self.fold(a, depth) for a in node.args]
            return self._filter(node.name, value, args)
        raise _Impossible

    def _binary(self, op: str, left: Any, right: Any) -> Any:
        if op == "Add" and type(left) is type(right) and isinstance(left, (str, int, list)):
            return left + right
        if op == "Mul" and isinstance(left, str) and isinstance(right, int) and 0 <= right <= _FOLD_LIMIT:
            return left * right
        if op == "Mod" and isinstance(left, str) and len(left) < 256 and not _WIDTH.search(left):
            try:
                return left % (tuple(right) if isinstance(right, list) else right)
            except (TypeError, ValueError, OverflowError) as exc:
                raise _Impossible from exc
        raise _Impossible

    def _filter(self, name: str, value: Any, args: list[Any]) -> Any:
        if name == "join" and isinstance(value, list) and len(args) <= 1:
            return str(args[0] if args else "").join(str(v) for v in value)
        if name in _STRING_FILTERS and not args and isinstance(value, str):
            return _STRING_FILTERS[name](value)
        if name == "string" and not args and isinstance(value, int):
            return str(value)
        replaces = name == "replace" and isinstance(value, str) and len(args) == 2
        if replaces and all(isinstance(a, str) for a in args) and len(value) * (len(args[1]) + 1) <= _FOLD_LIMIT:
            return value.replace(args[0], args[1])
        if name == "format" and isinstance(value, str):
            return self._binary("Mod", value, list(args))
        raise _Impossible


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Generation(Extension):
        """HF transformers' ``{% generation %}...{% endgeneration %}`` (marks assistant text): its body."""

        tags = {"generation"}  # noqa: RUF012 (Jinja's own class attribute)

        def parse(self, parser: Any) -> Any:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    # loopcontrols: {% break %} / {% continue %}, which HF transformers enables for chat templates.
    return ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols", Generation])


def judge_template(template: str) -> TemplateVerdict:
    """Judge a chat template by its parse tree (never rendering it); see the module docstring."""
    try:
        from jinja2 import nodes
    except ImportError:
        return TemplateVerdict(Severity.MEDIUM, ("not judged: jinja2 is not installed",))
    if len(template) > _MAX_TEMPLATE:
        return TemplateVerdict(Severity.MEDIUM, (f"not judged: {len(template)} characters, over {_MAX_TEMPLATE}",))
    try:
        tree = _environment().parse(template)
    except Exception as exc:  # a hostile template may break the parser in any way
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return TemplateVerdict(Severity.MEDIUM, (f"Jinja cannot parse it ({why}); another loader's Jinja may",))
    judge = _Judge(nodes)
    try:
        judge.collect(tree)
        judge.walk(tree)
        if judge.medium and not judge.critical:
            judge.escalate(tree)
    except RecursionError:
        return TemplateVerdict(Severity.MEDIUM, ("nested too deeply to judge",))
    if judge.critical:
        return TemplateVerdict(Severity.CRITICAL, tuple(dict.fromkeys(judge.critical)))
    if judge.medium:
        return TemplateVerdict(Severity.MEDIUM, tuple(dict.fromkeys(judge.medium)))
    return TemplateVerdict(None, ())
