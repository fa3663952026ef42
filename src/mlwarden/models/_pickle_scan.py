"""A static pickle scanner: reads the opcode stream, never runs it.

It walks every opcode of protocols 0-5 with a small symbolic stack and memo, so that it knows,
for each import, the *precise* name the unpickler would import: ``GLOBAL`` and ``INST`` carry
it inline; ``STACK_GLOBAL`` takes it from two strings on the stack, which may come through the
memo (``BINPUT``/``MEMOIZE`` then ``BINGET``); ``OBJ``, ``NEWOBJ``, ``NEWOBJ_EX`` and ``REDUCE``
call what an import pushed. Each import is judged by :func:`classify_import` (allow-list first);
a ``STACK_GLOBAL`` whose operands are not plain strings (built by a call at load time) is a
CRITICAL *dynamic import*, since no one can say what it imports without running it.

Values are tracked only as far as a decision needs them: strings, numbers and small containers
(capped at :data:`_CAP` items); large byte payloads are skipped by length, never copied, so a
multi-GB pickle of arrays costs a few opcodes.

Operands are read as CPython's unpickler (``_pickle.c``) reads them, before any decision: ``INT`` by
C's ``strtol`` base 0 then ``int(s, 0)`` (``010`` is 8, ``0x1f``, ``0o17``, ``0b1``, ``1_0``; ``01`` is
True), ``LONG`` by ``int(s, 0)``, memo keys base 10; ``STRING`` with its escapes decoded
(``codecs.escape_decode``: ``'o\\x73'`` is ``os``), ``UNICODE`` as raw-unicode-escape, ``GLOBAL`` lines as
strict UTF-8 and ``INST`` lines as strict ASCII. An operand the unpickler refuses ends the scan as
unreadable (the unpickler stops there too). ``EXT1/2/4`` import whatever ``copyreg``'s extension
registry maps their code to: CRITICAL, unless ``copyreg.add_extension`` (itself CRITICAL) registered
the code earlier in the stream, and then it is judged as that import.

Two loaders read data *between* opcodes, and the scanner follows them: joblib writes each
array's bytes right after the ``BUILD`` of its ``NumpyArrayWrapper`` (an object array as a
nested pickle, which is scanned), and legacy ``torch.save`` files are several pickles in a row.
The wrapper is followed as joblib 1.6 reads it (``load_build``, ``read_array``): made by calling the
class (``__init__``'s defaults: 16-byte alignment), by ``NEWOBJ`` or by ``copyreg._reconstructor``;
attributes merged over every ``BUILD`` of the same object; one padding-length byte only where
``numpy_array_alignment_bytes is not None`` (joblib writes None to a stream it cannot ``tell``). A field
computed at load time where a literal is needed leaves the data's end unknown: the scan fails closed.
joblib < 0.10's ``NDArrayWrapper`` makes joblib ``np.load(filename, allow_pickle=True)`` a file beside
the pickle (``ZNDArrayWrapper`` reads its bytes): a finding of kind :data:`EXTERNAL_FILE` named by the
file (HIGH; CRITICAL when the name leaves the folder or is computed), for a folder scan to judge it.
"""

from __future__ import annotations

import codecs
import contextlib
import struct
import warnings
from typing import Any

from mlwarden.models._allowlist import MEMORY_UNSAFE_REASON, capability, classify_import, is_allowed
from mlwarden.models._findings import Scope, Severity, Unreadable

__all__ = ["EXTERNAL_FILE", "TORCH_LEGACY_MAGIC", "PickleResult", "scan_pickle"]

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_CAP = 256  # items kept per list/dict: enough for any wrapper's state, bounded for huge containers
_STR_CAP = 1 << 16  # strings longer than this are not decoded (no import name is that long)
_MAX_NESTED = 16  # joblib object arrays nest pickles; bound the recursion

_JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"
# joblib < 0.10 wrote arrays to files beside the pickle: ``NDArrayWrapper.read`` calls
# ``np.load(os.path.join(dirname, filename), allow_pickle=True)``; ``ZNDArrayWrapper`` reads a zlib file.
_JOBLIB_NPY_FILE = frozenset({"joblib.numpy_pickle_compat.NDArrayWrapper", "joblib.numpy_pickle.NDArrayWrapper"})
_JOBLIB_Z_FILE = frozenset({"joblib.numpy_pickle_compat.ZNDArrayWrapper", "joblib.numpy_pickle.ZNDArrayWrapper"})
_JOBLIB_CLASSES = frozenset({_JOBLIB_WRAPPER, *_JOBLIB_NPY_FILE, *_JOBLIB_Z_FILE})
# ``__init__``'s parameters and defaults (joblib 1.6), for a wrapper built by calling its class.
_WRAPPER_INIT: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    _JOBLIB_WRAPPER: (
        ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"),
        {"allow_mmap": False, "numpy_array_alignment_bytes": 16},
    ),
    **{name: (("filename", "subclass", "allow_mmap"), {"allow_mmap": True}) for name in _JOBLIB_NPY_FILE},
    **{name: (("filename", "init_args", "state"), {}) for name in _JOBLIB_Z_FILE},
}
EXTERNAL_FILE = "external-file"
_ADD_EXTENSION = "copyreg.add_extension"
# Callables that store another callable and call it later (``partial.__setstate__`` can replace it).
_PARTIALS = frozenset({"functools.partial", "functools.partialmethod"})


class _Mark:
    __slots__ = ()


class _Opaque:
    """A value the scanner does not track (a large payload, a set, an out-of-band buffer)."""

    __slots__ = ()


class _Global:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Obj:
    """The result of a call (REDUCE, NEWOBJ, INST, OBJ): what was called, with what, and BUILD's state.

    ``init`` says the class itself was called (``REDUCE``, ``INST``, ``OBJ`` run ``__init__`` with ``args``)
    rather than only its ``__new__`` (``NEWOBJ``, ``NEWOBJ_EX``)."""

    __slots__ = ("args", "callee", "init", "state")

    def __init__(self, callee: str | None, args: Any, init: bool = True) -> None:
        self.callee = callee
        self.args = args
        self.init = init
        self.state: Any = None


MARK = _Mark()
OPAQUE = _Opaque()


class PickleResult:
    """Where a pickle ended, the value it returns (as far as tracked), and whether it was joblib's."""

    __slots__ = ("end", "joblib", "protocol", "value")

    def __init__(self, end: int, value: Any, protocol: int, joblib: bool) -> None:
        self.end = end
        self.value = value
        self.protocol = protocol
        self.joblib = joblib


def _line(data: Any, pos: int, size: int) -> tuple[bytes, int]:
    """A newline-terminated argument (protocol 0), found a chunk at a time (it may be long: an array's data)."""
    end = pos
    chunk = 256
    while end < size:
        found = bytes(data[end : end + chunk]).find(b"\n")
        if found >= 0:
            end += found
            return bytes(data[pos:end]), end + 1
        end += chunk
        chunk = min(chunk * 4, 1 << 20)
    raise Unreadable(f"pickle line argument at byte {pos} is not terminated")


def _truncated(what: str, at: int, size: int) -> None:
    raise Unreadable(f"pickle truncated: {what} at byte {at} runs past the end ({size} bytes)")


def _quoted(raw: bytes, pos: int) -> str:
    """A protocol-0 ``STRING`` operand as the unpickler reads it: the quotes stripped, the escapes decoded
    (``codecs.escape_decode``, CPython's ``PyBytes_DecodeEscape``: ``'o\\x73'`` is ``os``), then the bytes
    as text (latin-1, which is ASCII for every ASCII name and what an ``encoding='latin1'`` loader gets)."""
    if len(raw) < 2 or raw[0] != raw[-1] or raw[:1] not in (b"'", b'"'):
        raise Unreadable(f"pickle STRING at byte {pos} is not quoted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an invalid escape such as "\\q" only warns: it stays as written
            decoded: bytes = codecs.escape_decode(raw[1:-1])[0]
    except ValueError:
        raise Unreadable(f"pickle STRING at byte {pos} has an invalid escape") from None
    return decoded.decode("latin-1")


def _text_line(raw: bytes, pos: int, opcode: str, encoding: str) -> str:
    """A ``GLOBAL`` (UTF-8) or ``INST`` (ASCII) operand line, decoded strictly as CPython does (an
    undecodable or empty line makes the unpickler fail, so nothing after it runs)."""
    if not raw:
        raise Unreadable(f"pickle {opcode} at byte {pos} has an empty module or name")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise Unreadable(f"pickle {opcode} at byte {pos} has a module or name that is not {encoding}") from None


def _split_marked(stack: list[Any], pos: int) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise Unreadable(f"pickle opcode at byte {pos} needs a MARK that is not there")


def _pop(stack: list[Any], pos: int) -> Any:
    if not stack or stack[-1] is MARK:
        raise Unreadable(f"pickle stack underflow at byte {pos}")
    return stack.pop()


def _dtype_code(dtype: Any) -> tuple[str, int] | None:
    """``(kind, digits)`` of a pickled ``numpy.dtype`` (args ``('f8', False, True)``), or None."""
    if not isinstance(dtype, _Obj) or dtype.callee != "numpy.dtype" or not isinstance(dtype.args, tuple):
        return None
    if not dtype.args or not isinstance(dtype.args[0], str):
        return None
    code = dtype.args[0].lstrip("|<>=")
    if code in ("O", "object", "object_"):  # numpy's spellings of the object type without a size
        return "O", 8
    kind, digits = code[:1], code[1:]
    if not digits.isascii() or not digits.isdigit() or len(digits) > 9:
        return None
    return kind, int(digits)


def _itemsize(dtype: Any) -> int | None:
    """Bytes per item, as numpy computes it when unpickling: the type's own size for fixed types (the
    state's size is ignored there), the state's size for flexible ones (``S``, ``U``, ``V``)."""
    code = _dtype_code(dtype)
    if code is None:
        return None
    kind, n = code
    if kind in "biufcmM":
        return n
    if kind in "SUV":
        state = dtype.state
        if isinstance(state, tuple) and len(state) > 5 and type(state[5]) is int and state[5] > 0:
            return int(state[5])
        return n * 4 if kind == "U" else n
    return None


def _has_object(dtype: Any, pos: int, depth: int = 0) -> bool:
    """Whether numpy's ``dtype.hasobject`` holds: an object type, or a field or subarray of one."""
    code = _dtype_code(dtype)
    if code is None or depth > 32:
        raise Unreadable(f"joblib array wrapper at byte {pos} has no readable dtype")
    kind, _ = code
    if kind == "O":
        return True
    if kind != "V":
        return False
    state = dtype.state
    if not isinstance(state, tuple) or len(state) < 5:
        return False
    subarray, fields = state[2], state[4]
    if isinstance(subarray, tuple) and subarray and _has_object(subarray[0], pos, depth + 1):
        return True
    if fields is None:
        return False
    if not isinstance(fields, dict) or len(fields) >= _CAP:
        raise Unreadable(f"joblib array wrapper at byte {pos} has a structured dtype too large to check")
    return any(isinstance(f, tuple) and f and _has_object(f[0], pos, depth + 1) for f in fields.values())


def _joblib_class(obj: _Obj) -> str | None:
    """The joblib wrapper class ``obj`` is an instance of, or None: made by calling the class, by ``NEWOBJ``,
    or (protocols 0-1, and ``copyreg`` forms) by ``copyreg._reconstructor(cls, object, None)`` or
    ``copyreg.__newobj__(cls, ...)``, all of which joblib's ``load_build`` treats alike."""
    if obj.callee in _JOBLIB_CLASSES:
        return obj.callee
    if obj.callee in ("copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"):
        args = obj.args
        if isinstance(args, tuple) and args and isinstance(args[0], _Global) and args[0].name in _JOBLIB_CLASSES:
            return args[0].name
    return None


def _wrapper_fields(wrapper: str, obj: _Obj, state: Any, pos: int) -> dict[str, Any]:
    """A joblib wrapper's attributes after this ``BUILD``, as joblib will see them: those ``__init__`` set
    (when the class was called), then every ``BUILD`` state merged in turn (a wrapper fetched from the memo
    and built again keeps its earlier attributes). Anything else cannot be followed: fail closed."""
    fields: dict[str, Any]
    if isinstance(obj.state, dict):
        fields = dict(obj.state)
    elif obj.callee == wrapper and obj.init:
        names, defaults = _WRAPPER_INIT[wrapper]
        args = obj.args
        if not isinstance(args, tuple) or len(args) > len(names) or len(args) + len(defaults) < len(names):
            raise Unreadable(f"joblib wrapper at byte {pos} is built from arguments that cannot be followed")
        fields = {**defaults, **dict(zip(names, args, strict=False))}
    elif obj.callee == "copyreg._reconstructor" and not _object_base(obj.args):
        raise Unreadable(f"joblib wrapper at byte {pos} is built by copyreg from an unusual base")
    else:
        fields = {}
    # A (dict state, slot state) pair: both set attributes.
    pair = isinstance(state, tuple) and len(state) == 2
    parts = [part for part in state if part is not None] if pair else [state]
    for part in parts:
        if not isinstance(part, dict) or len(part) >= _CAP:
            raise Unreadable(f"joblib wrapper at byte {pos} has a state that cannot be followed")
        fields.update(part)
    return fields


def _object_base(args: tuple[Any, ...]) -> bool:
    """``copyreg._reconstructor(cls, object, state)``: only ``object.__new__(cls)`` runs, the state unused."""
    base = args[1] if len(args) == 3 else None
    return isinstance(base, _Global) and base.name == "builtins.object"


def _literal(value: Any) -> bool:
    """Whether ``value`` is what the stream wrote, not something computed at load time."""
    return not isinstance(value, (_Obj, _Opaque, _Mark))


def _external_array(scope: Scope, wrapper: str, fields: dict[str, Any], pos: int) -> None:
    """joblib < 0.10's wrappers read another file: ``np.load(allow_pickle=True)`` of it (``NDArrayWrapper``),
    or its zlib bytes (``ZNDArrayWrapper``). The reference is a finding of kind :data:`EXTERNAL_FILE` named
    by the file, so a folder scan can judge that file too; CRITICAL when it is not a plain name beside the
    pickle (an absolute path or ``..`` reaches any file on the machine; a computed name is unknowable)."""
    filename = fields.get("filename")
    loads = "np.load(allow_pickle=True), which runs any pickle in it" if wrapper in _JOBLIB_NPY_FILE else "its bytes"
    if not isinstance(filename, str) or not _literal(filename):
        scope.add(
            Severity.CRITICAL,
            EXTERNAL_FILE,
            "?",
            f"{wrapper} makes joblib read a file whose name is computed at load time with {loads}",
            pos,
        )
        return
    parts = filename.replace("\\", "/").split("/")
    escapes = filename.startswith(("/", "\\")) or ".." in parts or (len(filename) > 1 and filename[1] == ":")
    where = "outside the model's folder" if escapes else "beside the pickle"
    scope.add(
        Severity.CRITICAL if escapes else Severity.HIGH,
        EXTERNAL_FILE,
        filename,
        f"{wrapper} makes joblib read {filename!r} ({where}) with {loads}: that file must be judged too",
        pos,
    )


# A pure builtin a wrapper field may be built with: the argument types it is evaluated on, and what it makes.
_PURE_CALLS: dict[str, tuple[tuple[type, ...], type]] = {
    "builtins.tuple": ((tuple, list), tuple),
    "builtins.list": ((tuple, list), list),
    "builtins.int": ((int, bool), int),
    "builtins.bool": ((int, bool), bool),
    "builtins.str": ((str,), str),
}


def _pure(value: Any) -> Any:
    """A wrapper field built by calling a pure builtin on a literal (``tuple([3, 4])``, ``int(16)``), as the
    call returns it; anything else is returned unchanged (and judged by its caller)."""
    if not isinstance(value, _Obj) or value.callee not in _PURE_CALLS or value.state is not None:
        return value
    args = value.args
    if not isinstance(args, tuple) or len(args) != 1:
        return value
    accepted, make = _PURE_CALLS[value.callee]
    arg = _pure(args[0])
    if type(arg) not in accepted:
        return value
    if isinstance(arg, (tuple, list)):
        items = [_pure(item) for item in arg]
        if not all(_literal(item) for item in items):
            return value
        arg = items
    return make(arg)


def _joblib_array(state: Any, pos: int) -> tuple[bool, int, bool]:
    """(object array?, byte count, has alignment padding) from a NumpyArrayWrapper's attributes.

    joblib pads (one length byte, then that many bytes) when ``numpy_array_alignment_bytes is not None``:
    a wrapper written to a non-seekable stream holds None and has no padding; one without the attribute
    (joblib <= 1.1) has none either. A computed value could be either: fail closed."""
    if not isinstance(state, dict):
        raise Unreadable(f"joblib array wrapper at byte {pos} has no readable state")
    dtype, shape = state.get("dtype"), _pure(state.get("shape"))
    # An object array is pickle.load-ed from the stream whatever its shape says: no length is needed.
    if _has_object(dtype, pos):
        return True, 0, False
    alignment = _pure(state.get("numpy_array_alignment_bytes"))
    if not _literal(alignment):
        raise Unreadable(f"joblib array wrapper at byte {pos} has a computed alignment: its data's end is unknown")
    if isinstance(shape, list):  # joblib multiplies and reshapes by any sequence
        shape = tuple(shape)
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise Unreadable(f"joblib array wrapper at byte {pos} has no readable shape")
    size = _itemsize(dtype)
    if size is None:
        raise Unreadable(f"joblib array wrapper at byte {pos} has no readable dtype")
    count = 1
    for n in shape:
        count *= n
    return False, count * size, alignment is not None


def scan_pickle(
    data: Any,
    scope: Scope,
    pos: int = 0,
    *,
    persistent_ids: bool = False,
    depth: int = 0,
) -> PickleResult:
    """Scan one pickle starting at ``pos`` in ``data`` (bytes or a memoryview), reporting into ``scope``.

    ``persistent_ids`` says the loader resolves persistent ids itself (PyTorch storages); elsewhere
    a persistent id is a MEDIUM finding. Raises :class:`Unreadable` on a malformed stream (the
    findings made up to there stay in ``scope``: they were reached before the unpickler would fail).
    """
    if depth > _MAX_NESTED:
        raise Unreadable("pickles nested too deep")
    size = len(data)
    try:
        return _walk(data, scope, pos, persistent_ids, depth, size, [], {})
    except (IndexError, struct.error):
        raise Unreadable(
            f"pickle truncated or malformed: an opcode's argument runs past the end ({size} bytes) "
            "or its operand is missing from the stack"
        ) from None
    except UnicodeDecodeError:
        raise Unreadable("pickle string is not valid UTF-8") from None
    except KeyError as exc:
        raise Unreadable(f"pickle refers to memo entry {exc.args[0]!r}, which was never stored") from None


def _walk(
    data: Any,
    scope: Scope,
    pos: int,
    persistent_ids: bool,
    depth: int,
    size: int,
    stack: list[Any],
    memo: dict[Any, Any],
    extensions: dict[int, tuple[str, str]] | None = None,
) -> PickleResult:
    unpack_from = struct.unpack_from
    if extensions is None:
        extensions = {}
    protocol = 0
    joblib = False
    while True:
        if pos >= size:
            raise Unreadable(f"pickle ends at byte {pos} without a STOP opcode")
        at = pos
        op = data[pos]
        pos += 1
        # -- values -----------------------------------------------------------------------------
        if op == 0x94:  # MEMOIZE (an empty stack raises IndexError: reported as malformed)
            memo[len(memo)] = stack[-1]
        elif op == 0x68:  # BINGET (an unknown key raises KeyError: reported as malformed)
            stack.append(memo[data[pos]])
            pos += 1
        elif op == 0x71:  # BINPUT
            memo[data[pos]] = stack[-1]
            pos += 1
        elif op == 0x4B:  # BININT1
            stack.append(data[pos])
            pos += 1
        elif op == 0x8C:  # SHORT_BINUNICODE
            n = data[pos]
            if pos + 1 + n > size:
                _truncated("SHORT_BINUNICODE", at, size)
            stack.append(str(data[pos + 1 : pos + 1 + n], "utf-8", "surrogatepass"))
            pos += 1 + n
        elif op in (0x58, 0x8D):  # BINUNICODE, BINUNICODE8
            width = 4 if op == 0x58 else 8
            n = unpack_from("<I" if width == 4 else "<Q", data, pos)[0]
            pos += width
            if pos + n > size:
                _truncated("BINUNICODE", at, size)
            if op == 0x8D:
                scope.payload(pos, n)  # hook: the model scanner looks inside byte payloads
            stack.append(str(data[pos : pos + n], "utf-8", "surrogatepass") if n <= _STR_CAP else OPAQUE)
            pos += n
        elif op == 0x52:  # REDUCE
            args = stack.pop()
            func = stack.pop()
            if type(func) is _Global:
                if func.name == _ADD_EXTENSION:
                    _register_extension(extensions, args)
                elif func.name in _PARTIALS and isinstance(args, tuple) and args:
                    _wrapped_callable(scope, func.name, args[0], at)
                stack.append(_Obj(func.name, args))
            else:
                stack.append(_call(scope, func, args, at, "REDUCE"))
        elif op == 0x4E:  # NONE
            stack.append(None)
        elif op == 0x28:  # MARK
            stack.append(MARK)
        elif op == 0x62:  # BUILD
            state = stack.pop()
            target = stack[-1]
            if isinstance(target, _Obj):
                wrapper = _joblib_class(target)
                if target.callee in _PARTIALS and isinstance(state, tuple) and state:  # (func, args, kwds, dict)
                    _wrapped_callable(scope, target.callee, state[0], at)
                if wrapper is None:
                    target.state = state
                else:  # joblib reads the array (or the file it names) when a wrapper's BUILD ends
                    target.state = _wrapper_fields(wrapper, target, state, at)
                    if wrapper == _JOBLIB_WRAPPER:
                        pos = _skip_joblib_array(data, target.state, pos, at, scope, depth, stack, memo, extensions)
                    else:
                        _external_array(scope, wrapper, target.state, at)
        elif op in (0x85, 0x86, 0x87):  # TUPLE1, TUPLE2, TUPLE3
            n = op - 0x84
            if len(stack) < n:
                raise Unreadable(f"pickle stack underflow at byte {at}")
            small = tuple(stack[-n:])
            del stack[-n:]
            stack.append(small)
        elif op in (0x72, 0x6A):  # LONG_BINPUT, LONG_BINGET
            key = unpack_from("<I", data, pos)[0]
            pos += 4
            _memo_op(op == 0x72, key, stack, memo)
        elif op == 0x89:  # NEWFALSE
            stack.append(False)
        elif op == 0x74:  # TUPLE
            stack.append(tuple(_split_marked(stack, at)))
        elif op == 0x47:  # BINFLOAT
            stack.append(unpack_from(">d", data, pos)[0])
            pos += 8
        elif op == 0x4A:  # BININT
            stack.append(unpack_from("<i", data, pos)[0])
            pos += 4
        elif op == 0x88:  # NEWTRUE
            stack.append(True)
        elif op == 0x7D:  # EMPTY_DICT
            stack.append({})
        elif op == 0x75:  # SETITEMS
            items = _split_marked(stack, at)
            if len(items) % 2:
                raise Unreadable(f"pickle SETITEMS with an odd number of items at byte {at}")
            target = _top(stack, at)
            if isinstance(target, dict):
                _set_items(target, items)
        elif op == 0x93:  # STACK_GLOBAL
            name_v = _pop(stack, at)
            module_v = _pop(stack, at)
            if isinstance(module_v, str) and isinstance(name_v, str):
                full = _import(scope, module_v, name_v, at, "STACK_GLOBAL")
                if full == _JOBLIB_WRAPPER:
                    joblib = True
                stack.append(_Global(full))
            else:
                scope.add(
                    Severity.CRITICAL,
                    "dynamic-import",
                    "?",
                    "STACK_GLOBAL takes its module or name from a value computed at load time",
                    at,
                )
                stack.append(_Global("?"))
        elif op in (0x63, 0x69):  # GLOBAL, INST
            module_raw, pos = _line(data, pos, size)
            name_raw, pos = _line(data, pos, size)
            opname, encoding = ("GLOBAL", "utf-8") if op == 0x63 else ("INST", "ascii")
            module = _text_line(module_raw, at, opname, encoding)
            name = _text_line(name_raw, at, opname, encoding)
            full = _import(scope, module, name, at, opname)
            if full == _JOBLIB_WRAPPER:
                joblib = True
            if op == 0x63:
                stack.append(_Global(full))
            else:
                stack.append(_Obj(full, tuple(_split_marked(stack, at))))
        elif op == 0x29:  # EMPTY_TUPLE
            stack.append(())
        elif op == 0x81:  # NEWOBJ
            args = _pop(stack, at)
            cls = _pop(stack, at)
            stack.append(_call(scope, cls, args, at, "NEWOBJ"))
        elif op == 0x4D:  # BININT2
            stack.append(data[pos] | data[pos + 1] << 8)
            pos += 2
        elif op in (0x43, 0x55):  # SHORT_BINBYTES, SHORT_BINSTRING
            n = data[pos]
            if pos + 1 + n > size:
                _truncated("SHORT_BINBYTES", at, size)
            raw = bytes(data[pos + 1 : pos + 1 + n])
            if op == 0x43:
                scope.payload(pos + 1, n)  # hook: the model scanner looks inside byte payloads
            stack.append(raw if op == 0x43 else raw.decode("latin-1"))
            pos += 1 + n
        elif op in (0x42, 0x54, 0x8E, 0x96):  # BINBYTES, BINSTRING, BINBYTES8, BYTEARRAY8
            width = 4 if op in (0x42, 0x54) else 8
            n = unpack_from("<i", data, pos)[0] if op == 84 else unpack_from("<I" if width == 4 else "<Q", data, pos)[0]
            pos += width
            if n < 0 or pos + n > size:
                _truncated("BINBYTES", at, size)
            if op != 0x54:
                scope.payload(pos, n)  # hook: the model scanner looks inside byte payloads
            if op == 0x54:  # BINSTRING: a str to Python 3's unpickler
                stack.append(bytes(data[pos : pos + n]).decode("latin-1") if n <= _STR_CAP else OPAQUE)
            else:
                stack.append(bytes(data[pos : pos + n]) if n <= 64 else OPAQUE)
            pos += n
        elif op == 0x95:  # FRAME
            pos += 8
        elif op == 0x80:  # PROTO
            protocol = data[pos]
            pos += 1
            if protocol > 5:
                raise Unreadable(f"unsupported pickle protocol {protocol} at byte {at}")
        elif op == 0x5D:  # EMPTY_LIST
            stack.append([])
        elif op == 0x8F:  # EMPTY_SET
            stack.append(OPAQUE)
        elif op == 0x6C:  # LIST
            stack.append(_split_marked(stack, at)[:_CAP])
        elif op == 0x64:  # DICT
            items = _split_marked(stack, at)
            if len(items) % 2:
                raise Unreadable(f"pickle DICT with an odd number of items at byte {at}")
            made: dict[Any, Any] = {}
            _set_items(made, items)
            stack.append(made)
        elif op == 0x91:  # FROZENSET
            _split_marked(stack, at)
            stack.append(OPAQUE)
        elif op == 0x61:  # APPEND
            value = _pop(stack, at)
            target = _top(stack, at)
            if isinstance(target, list) and len(target) < _CAP:
                target.append(value)
        elif op in (0x65, 0x90):  # APPENDS, ADDITEMS
            items = _split_marked(stack, at)
            target = _top(stack, at)
            if isinstance(target, list) and len(target) < _CAP:
                target.extend(items[: _CAP - len(target)])
        elif op == 0x73:  # SETITEM
            value = _pop(stack, at)
            key = _pop(stack, at)
            target = _top(stack, at)
            if isinstance(target, dict):
                _set_items(target, [key, value])
        elif op == 0x30:  # POP
            if not stack:
                raise Unreadable(f"pickle POP on an empty stack at byte {at}")
            stack.pop()
        elif op == 0x31:  # POP_MARK
            _split_marked(stack, at)
        elif op == 0x32:  # DUP
            stack.append(_top(stack, at))
        elif op in (0x8A, 0x8B):  # LONG1, LONG4
            width = 1 if op == 0x8A else 4
            n = data[pos] if width == 1 else unpack_from("<i", data, pos)[0]
            pos += width
            if n < 0 or pos + n > size:
                _truncated("LONG", at, size)
            stack.append(int.from_bytes(data[pos : pos + n], "little", signed=True) if n <= 64 else OPAQUE)
            pos += n
        elif op == 0x49:  # INT
            raw, pos = _line(data, pos, size)
            stack.append(_int_opcode(raw, at))
        elif op == 0x4C:  # LONG
            raw, pos = _line(data, pos, size)
            stack.append(_long_opcode(raw, at))
        elif op == 0x46:  # FLOAT
            raw, pos = _line(data, pos, size)
            try:
                stack.append(float(raw))
            except ValueError:
                raise Unreadable(f"pickle FLOAT at byte {at} is not a number") from None
        elif op == 0x53:  # STRING
            raw, pos = _line(data, pos, size)
            stack.append(_quoted(raw, at))
        elif op == 0x56:  # UNICODE
            raw, pos = _line(data, pos, size)
            try:
                stack.append(raw.decode("raw-unicode-escape"))
            except UnicodeDecodeError:
                raise Unreadable(f"pickle UNICODE at byte {at} has an invalid escape") from None
        elif op in (0x70, 0x67):  # PUT, GET
            raw, pos = _line(data, pos, size)
            _memo_op(op == 0x70, _memo_key(raw, at), stack, memo)
        elif op == 0x92:  # NEWOBJ_EX
            _pop(stack, at)  # kwargs
            args = _pop(stack, at)
            cls = _pop(stack, at)
            stack.append(_call(scope, cls, args, at, "NEWOBJ_EX"))
        elif op == 0x6F:  # OBJ
            items = _split_marked(stack, at)
            if not items:
                raise Unreadable(f"pickle OBJ without a class at byte {at}")
            stack.append(_call(scope, items[0], tuple(items[1:]), at, "OBJ"))
        elif op in (0x50, 0x51):  # PERSID, BINPERSID
            if op == 0x50:
                _, pos = _line(data, pos, size)
            else:
                scope.persistent_id(_pop(stack, at))  # hook: the model scanner learns torch's storage keys
            if not persistent_ids:
                scope.add(
                    Severity.MEDIUM,
                    "persistent-id",
                    "persistent_load",
                    "a persistent id: only a loader-defined function resolves it (plain pickle refuses)",
                    at,
                )
            stack.append(OPAQUE)
        elif op in (0x82, 0x83, 0x84):  # EXT1, EXT2, EXT4
            width = {0x82: 1, 0x83: 2, 0x84: 4}[op]
            if pos + width > size:
                _truncated(f"EXT{width}", at, size)
            code = int.from_bytes(data[pos : pos + width], "little")
            pos += width
            stack.append(_Global(_extension(scope, extensions, code, at, f"EXT{width}")))
        elif op in (0x97, 0x98):  # NEXT_BUFFER, READONLY_BUFFER
            if op == 0x97:
                stack.append(OPAQUE)
            else:
                _top(stack, at)
        elif op == 0x2E:  # STOP
            value = _pop(stack, at)
            return PickleResult(pos, value, protocol, joblib)
        else:
            raise Unreadable(f"not a pickle opcode: 0x{op:02x} at byte {at}")


def _memo_op(put: bool, key: Any, stack: list[Any], memo: dict[Any, Any]) -> None:
    """PUT (store the top of the stack) or GET (push a stored value); an empty stack or an unknown key
    raises IndexError or KeyError, which the walk reports as a malformed pickle."""
    if put:
        memo[key] = stack[-1]
    else:
        stack.append(memo[key])


def _top(stack: list[Any], pos: int) -> Any:
    if not stack or stack[-1] is MARK:
        raise Unreadable(f"pickle stack underflow at byte {pos}")
    return stack[-1]


_C_SPACE = b" \t\n\v\f\r"
_INT64 = 1 << 63


def _c_string(raw: bytes) -> bytes:
    """What C reads of a line: up to its first NUL."""
    return raw.split(b"\0", 1)[0]


def _strtol0(raw: bytes) -> int | None:
    """C's ``strtol(s, &end, 0)`` where the whole C string must be consumed: leading spaces, a sign,
    ``0x`` hex, a leading ``0`` octal (``010`` is 8), else decimal (an empty string is 0); None where C
    would stop early or overflow a 64-bit long (the unpickler then falls back to ``int(s, 0)``)."""
    raw = _c_string(raw)
    if not raw:
        return 0
    i, n = 0, len(raw)
    while i < n and raw[i] in _C_SPACE:
        i += 1
    negative = i < n and raw[i] == 0x2D
    if i < n and raw[i] in b"+-":
        i += 1
    base, digits = 10, b"0123456789"
    if raw[i : i + 2] in (b"0x", b"0X") and i + 2 < n and raw[i + 2] in b"0123456789abcdefABCDEF":
        base, digits, i = 16, b"0123456789abcdefABCDEF", i + 2
    elif raw[i : i + 1] == b"0":
        base, digits = 8, b"01234567"
    start = i
    while i < n and raw[i] in digits:
        i += 1
    if i == start or (i < n and raw[i] != 0):
        return None
    value = int(raw[start:i], base)
    value = -value if negative else value
    return value if -_INT64 <= value < _INT64 else None


def _int_opcode(raw: bytes, pos: int) -> int:
    """An ``INT`` operand as ``_pickle.c``'s ``load_int`` reads it: ``strtol`` base 0, else Python's
    ``int(s, 0)`` (``0o17``, ``0b1``, ``1_0``, long values); a two-character 0 or 1 is a bool (``01``)."""
    if not raw:
        raise Unreadable(f"pickle INT at byte {pos} is empty")
    value = _strtol0(raw)
    if value is None:
        try:
            return int(_c_string(raw), 0)
        except ValueError:
            raise Unreadable(f"pickle INT at byte {pos} is not a number") from None
    return bool(value) if len(raw) == 2 and value in (0, 1) else value


def _long_opcode(raw: bytes, pos: int) -> int:
    """A ``LONG`` operand: one trailing ``L`` dropped, then Python's ``int(s, 0)`` (``load_long``)."""
    if not raw:
        raise Unreadable(f"pickle LONG at byte {pos} is empty")
    try:
        return int(_c_string(raw[:-1] if raw.endswith(b"L") else raw), 0)
    except ValueError:
        raise Unreadable(f"pickle LONG at byte {pos} is not a number") from None


def _memo_key(raw: bytes, pos: int) -> int:
    """A ``PUT``/``GET`` key: base 10 (``PyLong_FromString(s, NULL, 10)``), never negative."""
    try:
        key = int(_c_string(raw), 10)
    except ValueError:
        raise Unreadable(f"pickle memo key at byte {pos} is not a number") from None
    if key < 0:
        raise Unreadable(f"pickle memo key at byte {pos} is negative")
    return key


def _set_items(target: dict[Any, Any], items: list[Any]) -> None:
    for i in range(0, len(items), 2):
        if len(target) >= _CAP:
            return
        try:
            target[items[i]] = items[i + 1]
        except TypeError:  # an unhashable key the scanner does not track
            continue


def _import(scope: Scope, module: str, name: str, at: int, opcode: str) -> str:
    severity, shown = classify_import(module, name)
    if severity is not None:
        kind = "import"
        group = capability(module, name) if severity is Severity.CRITICAL else None
        if severity is Severity.CRITICAL:
            reason = f"a dangerous callable ({group or 'reaches module internals'})"
        else:
            reason = MEMORY_UNSAFE_REASON if severity is Severity.MEDIUM else "not on the allow-list"
        scope.add(severity, kind, shown, f"{opcode} imports {shown}: {reason}", at)
    return shown.split(" (from ", 1)[0]


def _register_extension(extensions: dict[int, tuple[str, str]], args: Any) -> None:
    """Follow ``copyreg.add_extension(module, name, code)`` (itself CRITICAL): a later ``EXT`` of ``code``
    in the same stream imports ``module.name``, which is then judged like any import."""
    if isinstance(args, tuple) and len(args) == 3:
        module, name, code = args
        if isinstance(module, str) and isinstance(name, str) and type(code) is int:
            extensions.setdefault(code, (module, name))


def _extension(scope: Scope, extensions: dict[int, tuple[str, str]], code: int, at: int, opcode: str) -> str:
    """An ``EXT`` opcode imports whatever ``copyreg``'s registry maps ``code`` to: any global at all. It is
    CRITICAL unless the code was registered earlier in this stream, and then it is judged as that import
    (whose registration, ``copyreg.add_extension``, is CRITICAL on its own)."""
    if code in extensions:
        module, name = extensions[code]
        severity, shown = classify_import(module, name)
        if severity is not None:
            scope.add(severity, "extension", shown, f"{opcode} {code} imports {shown}, registered in this stream", at)
        return shown.split(" (from ", 1)[0]
    scope.add(
        Severity.CRITICAL,
        "extension",
        f"copyreg extension {code}",
        f"{opcode} imports whatever the process registered as extension code {code} (copyreg): any global",
        at,
    )
    return "?"


def _wrapped_callable(scope: Scope, wrapper: str, func: Any, at: int) -> None:
    """``functools.partial(func, ...)`` calls ``func`` whenever the model calls it: CRITICAL unless ``func``
    is an allowed import (``partial(numpy.mean)`` stays the HIGH of an import off the allow-list)."""
    if isinstance(func, _Global) and func.name != "?" and is_allowed(*func.name.rsplit(".", 1)):
        return
    shown = func.name if isinstance(func, _Global) else "a value computed at load time"
    scope.add(
        Severity.CRITICAL,
        "indirection",
        wrapper,
        f"{wrapper} wraps {shown}, which is not on the allow-list: the model calls it later (indirection)",
        at,
    )


def _call(scope: Scope, func: Any, args: Any, at: int, opcode: str) -> _Obj:
    if isinstance(func, _Global):
        return _Obj(func.name, args, init=opcode == "OBJ")
    scope.add(
        Severity.MEDIUM,
        "indirect-call",
        "?",
        f"{opcode} calls a value that is not an import (the result of another call)",
        at,
    )
    return _Obj(None, args)


def _skip_joblib_array(
    data: Any,
    state: Any,
    pos: int,
    at: int,
    scope: Scope,
    depth: int,
    stack: list[Any],
    memo: dict[Any, Any],
    extensions: dict[int, tuple[str, str]],
) -> int:
    """Step over the array joblib wrote after this wrapper's BUILD (scanning an object array's pickle)."""
    is_object, nbytes, padded = _joblib_array(state, at)
    size = len(data)
    if is_object:
        return scan_pickle(data, scope, pos, depth=depth + 1).end
    _shadow_scan(data, pos, scope, depth, stack, memo, extensions)
    if padded:
        if pos >= size:
            _truncated("joblib alignment padding", at, size)
        pos += 1 + data[pos]
    if pos + nbytes > size:
        _truncated("joblib array data", at, size)
    return pos + nbytes


class _OverlayMemo(dict):  # type: ignore[type-arg]
    """The memo of a shadow walk: reads fall through to the main walk's memo, writes stay here (no copy of
    a memo that may hold thousands of entries for every array a joblib file holds)."""

    __slots__ = ("base",)

    def __init__(self, base: dict[Any, Any]) -> None:
        super().__init__()
        self.base = base

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.base

    def __getitem__(self, key: Any) -> Any:
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            return self.base[key]

    def __len__(self) -> int:
        return dict.__len__(self) + len(self.base)


def _shadow_scan(
    data: Any,
    pos: int,
    scope: Scope,
    depth: int,
    stack: list[Any],
    memo: dict[Any, Any],
    extensions: dict[int, tuple[str, str]],
) -> None:
    """Read the array bytes as plain ``pickle.load`` would, going on from the same stack and memo, and keep
    any CRITICAL import it reaches: joblib treats the bytes as data, but ``pickle.load`` of the same file
    runs them as opcodes."""
    if depth + 1 > _MAX_NESTED:
        return
    shadow = Scope(scope.path, scope.inner)
    with contextlib.suppress(Unreadable, IndexError, struct.error, UnicodeDecodeError):
        _walk(data, shadow, pos, False, depth + 1, len(data), list(stack), _OverlayMemo(memo), dict(extensions))
    for finding in shadow.findings:
        if finding.severity is Severity.CRITICAL:
            scope.add(
                finding.severity,
                finding.kind,
                finding.name,
                f"hidden in joblib array data, runs if the file is loaded with plain pickle: {finding.detail}",
                finding.offset,
            )
