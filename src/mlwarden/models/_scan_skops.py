"""A skops scanner: reads ``schema.json`` of a skops file and judges every type and function it would load.

A skops file (``skops.io.dump``) is a zip: ``schema.json`` describes the object tree, and arrays
are stored beside it as ``.npy``/``.npz`` members (read with ``allow_pickle=False``). Each node of
the tree is a JSON object with ``__class__``, ``__module__``, ``__loader__`` (the name of the
``Node`` class that rebuilds it), often ``__id__`` (for shared references) and a loader-specific
``content``. The root also carries ``protocol`` and ``_skops_version``.

Loading never unpickles, but it does import: ``ObjectNode``, ``ReduceNode`` (``TreeNode``,
``LossNode``), ``ConstructorFromReduceNode``, the container nodes, ``RandomStateNode`` and
``RandomGeneratorNode`` import ``__module__.__class__`` and call it; ``FunctionNode`` and
``TypeNode`` import it and hand it to the model (which calls it later: ``FunctionTransformer``);
``MethodNode`` fetches a method of a loaded object; ``OperatorFuncNode`` builds an
``operator.attrgetter``/``itemgetter``/``methodcaller`` (which reach any attribute);
``RandomGeneratorNode`` calls ``numpy.random.<name>`` with a name taken from the state. So every
such name is judged by :func:`classify_import`, the project's allow-list (skops' own trusted-type
lists play no part): an allowed name is silent, anything else a finding of kind ``import`` with
its severity (``CRITICAL`` for ``os.system``, ``builtins.eval``, ``subprocess.Popen``...; ``HIGH``
otherwise), its name and the JSON path of the node as detail. Each distinct name is reported once,
at its first path, with the number of nodes that use it.

Nodes that import nothing are not judged: ``JsonNode`` (its value is ``json.loads`` of a string),
``CachedNode`` (a reference to an earlier node by ``__id__``) and ``PartialNode`` (always
``functools.partial``; its function and arguments are nodes of their own, judged). A ``__loader__``
this scanner does not know (a newer skops, or a hand-edited file) is ``MEDIUM``, and its module and
class are judged anyway. Invalid JSON, or a node without string ``__class__``/``__module__``/
``__loader__`` (which skops cannot load either), is :class:`Unreadable`.

The root's ``protocol`` picks the node classes: protocol 0's ``FunctionNode`` imports
``content.module_path``/``content.function`` and its ``RandomGeneratorNode`` keeps the bit
generator's name in a plain dict; both shapes are read.
"""

from __future__ import annotations

import json
from typing import Any

from mlwarden.models._allowlist import classify_import
from mlwarden.models._findings import Scope, Severity, Unreadable

__all__ = ["KNOWN_LOADERS", "SKOPS_PROTOCOL", "scan_skops_schema"]

SKOPS_PROTOCOL = 2  # the newest protocol skops.io writes (skops 0.10 to 0.13+)

KNOWN_LOADERS = frozenset(
    {
        # skops.io._general
        "DictNode",
        "DefaultDictNode",
        "ListNode",
        "SetNode",
        "TupleNode",
        "BytesNode",
        "BytearrayNode",
        "SliceNode",
        "FunctionNode",
        "MethodNode",
        "PartialNode",
        "TypeNode",
        "ConstructorFromReduceNode",
        "ObjectNode",
        "JsonNode",
        "OperatorFuncNode",
        "CachedNode",
        # skops.io._numpy
        "NdArrayNode",
        "MaskedArrayNode",
        "DTypeNode",
        "RandomStateNode",
        "RandomGeneratorNode",
        # skops.io._scipy
        "SparseMatrixNode",
        # skops.io._sklearn, skops.io._quantile_forest
        "TreeNode",
        "LossNode",
        "QuantileForestNode",
        "_DictWithDeprecatedKeysNode",
    }
)

# Loaders whose ``__module__.__class__`` is never imported.
_NO_IMPORT = frozenset({"JsonNode", "CachedNode", "PartialNode"})

# numpy.random.<name> as RandomGeneratorNode resolves it -> where the class is defined (the name the
# allow-list knows).
_BIT_GENERATORS = {
    "MT19937": "numpy.random._mt19937",
    "PCG64": "numpy.random._pcg64",
    "PCG64DXSM": "numpy.random._pcg64",
    "Philox": "numpy.random._philox",
    "SFC64": "numpy.random._sfc64",
}


class _Imports:
    """Distinct imports, in order of first use: name -> [severity, first path, loader, count]."""

    __slots__ = ("found", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.found: dict[str, list[Any]] = {}

    def judge(self, module: str, name: str, path: str, loader: str) -> None:
        severity, shown = classify_import(module, name)
        if severity is None:
            return
        if shown in self.found:
            self.found[shown][3] += 1
        else:
            self.found[shown] = [severity, path, loader, 1]

    def flush(self) -> None:
        for shown, (severity, path, loader, count) in self.found.items():
            reason = "a known-dangerous callable" if severity is Severity.CRITICAL else "not on the allow-list"
            more = f" (and {count - 1} more nodes)" if count > 1 else ""
            detail = f"{path}{more}: {loader} loads {shown}: {reason}"
            self.scope.add(severity, "import", _printable(shown), _printable(detail))
        self.found.clear()


def _printable(text: str) -> str:
    """Text from the file, safe to print: control and other non-printable characters escaped."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _bit_generator_name(state: Any) -> str | None:
    """The bit generator's class name inside a RandomGeneratorNode's ``content.bit_generator``."""
    if not isinstance(state, dict):
        return None
    inner = state.get("content")
    if isinstance(inner, dict):  # protocol 1+: a DictNode of JsonNodes
        leaf = inner.get("bit_generator")
        if isinstance(leaf, dict) and isinstance(leaf.get("content"), str):
            try:
                name = json.loads(leaf["content"])
            except ValueError:
                return None
            return name if isinstance(name, str) else None
    name = state.get("bit_generator")  # protocol 0: a plain dict
    return name if isinstance(name, str) else None


def _node(state: dict[str, Any], path: str, protocol: int, imports: _Imports, scope: Scope) -> None:
    loader = state["__loader__"]
    module, name = state.get("__module__"), state.get("__class__")
    if loader == "CachedNode":
        return
    if not isinstance(module, str) or not isinstance(name, str):
        raise Unreadable(f"skops node at {path} ({loader}) has no string __module__ and __class__")
    if loader not in KNOWN_LOADERS:
        scope.add(
            Severity.MEDIUM,
            "unknown-loader",
            _printable(loader),
            _printable(f"{path}: skops loader {loader!r} is unknown here; {module}.{name} judged, its content walked"),
        )
    content = state.get("content")
    if loader == "FunctionNode" and protocol == 0 and isinstance(content, dict):
        # Protocol 0's FunctionNode imports content.module_path.function, not the node's own names.
        fn_module, fn_name = content.get("module_path"), content.get("function")
        if isinstance(fn_module, str) and isinstance(fn_name, str):
            imports.judge(fn_module, fn_name, _child(path, "content"), loader)
            return
    if loader not in _NO_IMPORT:
        imports.judge(module, name, path, loader)
    if loader == "MethodNode" and isinstance(content, dict):
        method = content.get("func")
        obj = content.get("obj")
        if isinstance(method, str) and isinstance(obj, dict):
            owner_module, owner = obj.get("__module__"), obj.get("__class__")
            if isinstance(owner_module, str) and isinstance(owner, str):
                imports.judge(owner_module, f"{owner}.{method}", path, loader)
    elif loader == "RandomGeneratorNode" and isinstance(content, dict):
        bit_generator = _bit_generator_name(content.get("bit_generator"))
        if bit_generator is not None:
            where = _BIT_GENERATORS.get(bit_generator, "numpy.random")
            imports.judge(where, bit_generator, _child(_child(path, "content"), "bit_generator"), loader)


def scan_skops_schema(schema: bytes, scope: Scope) -> None:
    """Judge every import the ``schema.json`` of a skops file asks for; report into ``scope``."""
    try:
        tree = json.loads(bytes(schema))
    except (ValueError, RecursionError) as exc:
        raise Unreadable(f"skops schema.json is not valid JSON: {exc}") from None
    if not isinstance(tree, dict):
        raise Unreadable("skops schema.json is not a JSON object")
    protocol = tree.get("protocol")
    if isinstance(protocol, bool) or not isinstance(protocol, int) or protocol < 0:
        raise Unreadable(f"skops schema.json has no valid protocol number ({protocol!r})")
    if protocol > SKOPS_PROTOCOL:
        scope.add(
            Severity.MEDIUM,
            "unknown-protocol",
            f"protocol {protocol}",
            f"skops protocol {protocol} is newer than the {SKOPS_PROTOCOL} this scanner knows: its loaders may "
            "read the tree differently",
        )

    imports = _Imports(scope)
    # Walk every value: a dict with a string ``__loader__`` is a node. skops only ever puts nodes,
    # plain JSON values and strings where this finds them, so nothing a loader reads is missed;
    # nodes in places no loader reads are judged too (harmless over-reporting on edited files).
    stack: list[tuple[Any, str]] = [(tree, "$")]
    try:
        while stack:
            value, path = stack.pop()
            if isinstance(value, dict):
                if isinstance(value.get("__loader__"), str):
                    _node(value, path, protocol, imports, scope)
                items = [(_child(path, key), item) for key, item in value.items() if isinstance(item, (dict, list))]
            elif isinstance(value, list):
                items = [(_child(path, i), item) for i, item in enumerate(value) if isinstance(item, (dict, list))]
            else:
                continue
            stack.extend((item, child) for child, item in reversed(items))
    finally:
        imports.flush()
