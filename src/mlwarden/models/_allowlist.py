"""Which imports a model file may make: the allow-list, and the capabilities that make a callable CRITICAL.

The scanner decides by allow-list. An import (a pickle ``GLOBAL``, ``INST`` or ``STACK_GLOBAL``, a
skops type, a Keras layer module) is allowed only when its *precise* ``module.name`` is listed here:
numpy's array and scalar reconstructors, scipy's sparse matrices, scikit-learn's estimators (the
generated ``allowed_sklearn.txt``), torch's tensor rebuilds, collections, and a few builtins that
only build values. A listed module never allows its other names.

Everything else is a finding: ``CRITICAL`` when it has a dangerous *capability*, ``HIGH`` otherwise,
except pandas' and pyarrow's own reconstructors (the generated ``pandas_reconstructors.txt``), which are
``MEDIUM``: known to build only frames and arrays, but from block placements and buffers they never check,
so a tampered frame pickle crashes the loader.
Capabilities are groups of modules (with their submodules) and precise names, decided by what calling
the name can do, not by what the name looks like (:func:`capability`, :data:`CAPABILITIES`):

* ``runs processes``: shells, subprocesses, browsers, pagers (``os``, ``subprocess``, ``pydoc``);
* ``runs code``: evaluated or compiled code, native libraries, threads (``builtins``, ``runpy``, ``ctypes``);
* ``imports modules``: a string turned into any module or callable (``importlib``, ``pkgutil.resolve_name``,
  ``pydoc.locate``, ``uvicorn.importer.import_from_string``, pydantic's ``import_string``, ``sys``);
* ``indirection``: getters, callers and registries that reach whatever their arguments reach
  (``operator``/``_operator`` ``attrgetter``/``itemgetter``/``methodcaller``, ``copyreg.add_extension``,
  whose code an ``EXT`` opcode then imports, ``functools.reduce``; the scanner adds a ``functools.partial``
  wrapping anything not allowed);
* ``unpickles more data``: nested deserialisation (``pickle``, ``joblib``, ``numpy.load``, ``torch.load``);
* ``opens files``: reads, creates or overwrites a path (``io``, ``shutil``, ``numpy.memmap`` and
  ``numpy.lib.format.open_memmap`` whatever the mode, ``numpy.save*``, ``pandas.read_*``, ``scipy.io``);
* ``opens sockets``: the network (``socket``, ``http``, ``urllib``, ``requests``);
* ``changes the interpreter``: signals, limits, the process's own state (``signal``, ``resource``);
* ``test and build helpers``: helpers that run subprocesses or code (``test.support``, ``_pytest``,
  ``numpy.testing``, ``sklearn.utils._testing``, ``setuptools``, ``distutils``).

An attribute walk (``uuid`` + ``os.system``) or a module internal (``numpy.__builtins__``) is CRITICAL
too: it reaches whatever the module imported. The allow-list is checked first, so its names
(``copyreg._reconstructor``, joblib's array wrappers) stay allowed inside a dangerous module.

Python 2 names (``__builtin__``, ``commands``, ``copy_reg``...) are mapped to Python 3 ones the way
the unpickler maps them (``_compat_pickle``), before deciding, so a renamed module gains nothing.
"""

from __future__ import annotations

import functools
from importlib import resources

from mlwarden.models._findings import Severity

__all__ = [
    "CAPABILITIES",
    "MEMORY_UNSAFE_REASON",
    "capability",
    "classify_import",
    "is_allowed",
    "resolve_import",
]

_SAFE = frozenset(
    {
        # Builtins that only build values from values.
        "builtins.bool",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.complex",
        "builtins.dict",
        "builtins.float",
        "builtins.frozenset",
        "builtins.int",
        "builtins.list",
        "builtins.object",
        "builtins.range",
        "builtins.set",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        # Protocol 0-2 helpers the pickler itself emits.
        "_codecs.encode",
        "copyreg._reconstructor",
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        # Standard containers and values.
        "collections.Counter",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.deque",
        "datetime.date",
        "datetime.datetime",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        # NumPy: arrays, dtypes, scalars, masked arrays, random generators.
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy._core.numeric._frombuffer",
        "numpy.ma.core._mareconstruct",
        "numpy.ma.core.MaskedArray",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
        "numpy.random._generator.Generator",
        "numpy.random.mtrand.RandomState",
        # NumPy reductions scikit-learn keeps as parameters (pure computation).
        "numpy.mean",
        "numpy.median",
        "numpy.sum",
        "numpy.max",
        "numpy.min",
        "numpy.std",
        "numpy.var",
        "numpy.ma.MaskedArray",
        "numpy.bool",
        # NumPy ufuncs that FunctionTransformer and TransformedTargetRegressor commonly hold.
        *(
            f"numpy.{ufunc}"
            for ufunc in ("log", "log1p", "log2", "log10", "exp", "expm1", "sqrt", "square", "abs", "absolute")
        ),
        # scikit-learn names that default-fitted estimators do not emit but common configurations do:
        # multiclass and other losses, ball trees and distance metrics, CV splitters and scorers of searches.
        *(
            f"sklearn._loss.{name}"
            for name in (
                "_loss.CyHalfMultinomialLoss",
                "loss.HalfMultinomialLoss",
                "link.MultinomialLogit",
                "_loss.CyAbsoluteError",
                "loss.AbsoluteError",
                "_loss.CyExponentialLoss",
                "loss.ExponentialLoss",
                "link.HalfLogitLink",
                "_loss.CyHalfGammaLoss",
                "loss.HalfGammaLoss",
                "_loss.CyPinballLoss",
                "loss.PinballLoss",
                "_loss.CyHuberLoss",
                "loss.HuberLoss",
                "_loss.CyHalfTweedieLoss",
                "loss.HalfTweedieLoss",
                "_loss.CyHalfTweedieLossIdentity",
                "loss.HalfTweedieLossIdentity",
            )
        ),
        "sklearn.linear_model._sgd_fast.ModifiedHuber",
        "sklearn.linear_model._sgd_fast.SquaredHinge",
        "sklearn.linear_model._sgd_fast.Log",
        "sklearn.linear_model._sgd_fast.EpsilonInsensitive",
        "sklearn.linear_model._sgd_fast.SquaredEpsilonInsensitive",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._kd_tree.newObj",
        *(
            f"sklearn.metrics._dist_metrics.{metric}{bits}"
            for metric in (
                "EuclideanDistance",
                "SEuclideanDistance",
                "ManhattanDistance",
                "ChebyshevDistance",
                "MinkowskiDistance",
                "MahalanobisDistance",
                "HammingDistance",
                "CanberraDistance",
                "BrayCurtisDistance",
                "JaccardDistance",
                "MatchingDistance",
                "DiceDistance",
                "KulsinskiDistance",
                "RogersTanimotoDistance",
                "RussellRaoDistance",
                "SokalMichenerDistance",
                "SokalSneathDistance",
                "HaversineDistance",
            )
            for bits in ("64", "32")
        ),
        "sklearn.model_selection._split.KFold",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.model_selection._split.GroupKFold",
        "sklearn.model_selection._split.ShuffleSplit",
        "sklearn.model_selection._split.StratifiedShuffleSplit",
        "sklearn.model_selection._split.TimeSeriesSplit",
        "sklearn.metrics._scorer._PassthroughScorer",
        "sklearn.metrics._scorer._Scorer",
        "sklearn.utils._bunch.Bunch",
        "sklearn.utils.validation.check_array",
        # SciPy sparse matrices and arrays, splines.
        "scipy.sparse._csr.csr_matrix",
        "scipy.sparse._csc.csc_matrix",
        "scipy.sparse._coo.coo_matrix",
        "scipy.sparse._bsr.bsr_matrix",
        "scipy.sparse._dia.dia_matrix",
        "scipy.sparse._lil.lil_matrix",
        "scipy.sparse._dok.dok_matrix",
        "scipy.sparse._csr.csr_array",
        "scipy.sparse._csc.csc_array",
        "scipy.sparse._coo.coo_array",
        "scipy.sparse.csr.csr_matrix",
        "scipy.sparse.csc.csc_matrix",
        "scipy.sparse.coo.coo_matrix",
        "scipy.interpolate._bsplines.BSpline",
        "scipy._lib.array_api_compat.numpy._aliases.asarray",
        # joblib's wrappers around arrays written beside the pickle.
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle.NDArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        # PyTorch: tensor and storage rebuilds, dtypes, sizes, devices.
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._tensor._rebuild_from_type_v2",
        "torch.nn.parameter.Parameter",
        "torch.Tensor",
        "torch.Size",
        "torch.device",
        "torch.storage.UntypedStorage",
        "torch.storage.TypedStorage",
        *(
            f"torch.{kind}Storage"
            for kind in (
                "Untyped",
                "Double",
                "Float",
                "Half",
                "BFloat16",
                "Long",
                "Int",
                "Short",
                "Char",
                "Byte",
                "Bool",
                "ComplexFloat",
                "ComplexDouble",
            )
        ),
        *(
            f"torch.{dtype}"
            for dtype in (
                "float16",
                "float32",
                "float64",
                "bfloat16",
                "int8",
                "int16",
                "int32",
                "int64",
                "uint8",
                "bool",
                "complex64",
                "complex128",
                "half",
                "float",
                "double",
                "long",
                "int",
                "short",
            )
        ),
        *(
            f"numpy.{scalar}"
            for scalar in (
                "bool_",
                "int8",
                "int16",
                "int32",
                "int64",
                "uint8",
                "uint16",
                "uint32",
                "uint64",
                "float16",
                "float32",
                "float64",
                "longdouble",
                "complex64",
                "complex128",
                "str_",
                "bytes_",
                "object_",
                "intp",
                "uintp",
            )
        ),
    }
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_PANDAS_READERS = """
    csv table fwf excel json html xml parquet feather orc hdf sql sql_query sql_table sas spss stata clipboard gbq
"""

# What makes an import CRITICAL: its *capability*, the effect calling it (or the object it returns) can have.
# Each group lists modules (every name in them, and in their submodules) and precise names. A name that an
# allow-list entry lists is allowed first (``copyreg._reconstructor``, joblib's array wrappers).
_CAPABILITIES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "runs processes": (
        _words(
            """
            os posix nt subprocess _posixsubprocess pty multiprocessing _multiprocessing concurrent asyncio
            mailcap platform webbrowser commands popen2 _winapi msvcrt _osx_support _aix_support pydoc
            _sitebuiltins execnet py anyio click typer watchfiles ensurepip venv pip
            """
        ),
        frozenset({"uuid._get_command_stdout", "uuid._popen", "ctypes.util.find_library"}),
    ),
    "runs code": (
        _words(
            """
            builtins code codeop runpy types marshal inspect pdb bdb timeit profile cProfile trace doctest
            ctypes _ctypes cffi _cffi_backend threading _thread sched tkinter _tkinter idlelib yaml _yaml
            mypy absl torch.jit torch.package torch.utils.cpp_extension numpy.f2py numpy.ctypeslib
            pandas.core.computation numexpr
            """
        ),
        frozenset({"torch.classes.load_library", "torch.ops.load_library", "pandas.eval"}),
    ),
    # An importer turns a string into any module or callable (``uvicorn.importer.import_from_string('os:system')``).
    "imports modules": (
        _words(
            """
            importlib _frozen_importlib _frozen_importlib_external _imp imp zipimport pkgutil site sys
            uvicorn pkg_resources pluggy importlinter grimp modulefinder unittest skops
            sklearn.utils.discovery
            """
        ),
        _words(
            """
            pydantic._internal._validators.import_string pydantic.v1.utils.import_string
            pydantic.utils.import_string werkzeug.utils.import_string logging.config.dictConfig pydoc.locate
            """
        ),
    ),
    # Getters, callers and registries that reach whatever their arguments reach: ``operator.attrgetter`` applied
    # to an allowed object walks to ``os``; an ``EXT`` code names whatever ``copyreg.add_extension`` registered.
    "indirection": (
        frozenset({"operator", "_operator", "copyreg", "gc", "weakref", "_weakref", "atexit"}),
        frozenset({"functools.reduce", "functools.update_wrapper", "functools.singledispatch"}),
    ),
    "unpickles more data": (
        _words(
            """
            pickle _pickle cPickle pickletools shelve dill cloudpickle joblib fickling jsonpickle
            numpy.lib.npyio numpy.lib._npyio_impl numpy.lib.format torch.serialization keras.saving
            pandas.io.pickle
            """
        ),
        _words(
            """
            numpy.load torch.load torch.storage._load_from_bytes pandas.read_pickle
            """
        ),
    ),
    # ``numpy.memmap(path, mode='w+')`` creates or overwrites the file; whatever the mode, a file path is opened.
    "opens files": (
        _words(
            """
            io _io _pyio codecs fileinput tempfile glob pathlib shutil zipfile tarfile gzip bz2 lzma zipapp
            mmap fcntl dbm sqlite3 _sqlite3 mailbox logging wave aifc sunau compileall py_compile h5py
            pyarrow safetensors onnx numpy.core.memmap numpy._core.memmap numpy.lib._datasource pandas.io
            scipy.io tensorflow.io sklearn.datasets
            """
        ),
        _words(
            """
            _codecs.open numpy.memmap numpy.save numpy.savez numpy.savez_compressed numpy.savetxt numpy.fromfile
            numpy.fromregex numpy.tofile numpy.loadtxt numpy.genfromtxt numpy.DataSource numpy.rec.fromfile
            numpy.core.records.fromfile numpy._core.records.fromfile torch.save scipy.io.loadmat pandas.HDFStore
            pandas.ExcelWriter pandas.ExcelFile numpy.lib.format.open_memmap
            """
        )
        | frozenset(f"pandas.read_{kind}" for kind in _words(_PANDAS_READERS)),
    ),
    "opens sockets": (
        _words(
            """
            socket _socket ssl _ssl select selectors http urllib urllib2 urllib3 requests httpx httpcore
            ftplib smtplib telnetlib poplib imaplib nntplib xmlrpc socketserver wsgiref aiohttp paramiko dns
            psycopg prometheus_client websockets torch.hub
            """
        ),
        frozenset(),
    ),
    "changes the interpreter": (
        frozenset({"signal", "_signal", "resource", "faulthandler", "tracemalloc", "sysconfig"}),
        frozenset(),
    ),
    # Test and build helpers run subprocesses or code (``test.support.script_helper.assert_python_ok``).
    "test and build helpers": (
        _words(
            """
            test _pytest pytest hypothesis _hypothesis_pytestplugin schemathesis numpy.testing
            numpy._pytesttester numpy.distutils scipy._lib._testutils sklearn.utils._testing pandas._testing
            pandas.util._tester setuptools distutils _distutils_hack
            """
        ),
        frozenset(),
    ),
}

CAPABILITIES = tuple(_CAPABILITIES)


def resolve_import(module: str, name: str) -> tuple[str, str]:
    """``(module, name)`` as Python 3's unpickler resolves it (``__builtin__.eval`` -> ``builtins.eval``)."""
    import _compat_pickle

    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    if module in _compat_pickle.IMPORT_MAPPING:
        return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


def _names_file(name: str) -> frozenset[str]:
    text = resources.files("mlwarden.models").joinpath(name).read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


@functools.cache
def _allowed() -> frozenset[str]:
    return _SAFE | _names_file("allowed_sklearn.txt")


@functools.cache
def _memory_unsafe() -> frozenset[str]:
    """pandas' and pyarrow's reconstructors (``pandas_reconstructors.txt``): not allowed, since a frame
    pickled by pandas rebuilds its blocks at the placements the pickle says and pyarrow its arrays from
    raw buffers, neither checked against the data, so a tampered pickle loads and then writes or reads
    out of bounds (SIGSEGV). Rated ``MEDIUM`` rather than ``HIGH``: what they do is known, and it is not
    running code."""
    return _names_file("pandas_reconstructors.txt")


MEMORY_UNSAFE_REASON = (
    "a memory-unsafe reconstructor: it only builds pandas or Arrow objects, but from parts it does not"
    " validate (a tampered block placement or offsets buffer crashes the loader); load data from Parquet"
)


def capability(module: str, name: str) -> str | None:
    """The capability group (:data:`CAPABILITIES`) that makes ``module.name`` CRITICAL, or None.

    Names are taken as the unpickler resolves them; a group's module covers its submodules, and a
    dotted name is looked up by every prefix (``numpy.lib.format.open_memmap``, ``numpy`` + ``memmap``)."""
    module, name = resolve_import(module, name)
    full = f"{module}.{name}"
    parts = full.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    for group, (_, names) in _CAPABILITIES.items():  # a precise name says most (``numpy.lib.format.open_memmap``)
        if full in names:
            return group
    for group, (modules, names) in _CAPABILITIES.items():
        if not prefixes.isdisjoint(modules) or not prefixes.isdisjoint(names):
            return group
    return None


def _listed(module: str, name: str) -> bool:
    allowed = _allowed()
    if f"{module}.{name}" in allowed:
        return True
    # Cython's unpickle helper of an allowed extension type rebuilds only that type.
    return name.startswith("__pyx_unpickle_") and f"{module}.{name[len('__pyx_unpickle_') :]}" in allowed


def is_allowed(module: str, name: str) -> bool:
    module, name = resolve_import(module, name)
    return _listed(module, name)


@functools.lru_cache(maxsize=4096)
def classify_import(module: str, name: str) -> tuple[Severity | None, str]:
    """``(None, full name)`` when allowed; else ``(CRITICAL, HIGH or MEDIUM, full name)``.

    MEDIUM is for pandas' and pyarrow's reconstructors (``pandas_reconstructors.txt``).

    The full name is the resolved one, with the original after it when Python 2 mapping changed it
    (``builtins.eval (from __builtin__.eval)``).
    """
    resolved_module, resolved_name = resolve_import(module, name)
    full = f"{resolved_module}.{resolved_name}"
    shown = full if (resolved_module, resolved_name) == (module, name) else f"{full} (from {module}.{name})"
    if _listed(resolved_module, resolved_name):
        return None, shown
    if full in _memory_unsafe():  # before capabilities: pyarrow's module opens files, these three names do not
        return Severity.MEDIUM, shown
    if capability(resolved_module, resolved_name) is not None:
        return Severity.CRITICAL, shown
    # A dotted name walks attributes from the module (protocol 4's ``uuid`` + ``os.system``): it reaches
    # whatever the module imported, so it is CRITICAL unless the whole name is allowed.
    # A module's dunder attributes (``__builtins__``, ``__dict__``, ``__loader__``) reach everything it can.
    if any(part.startswith("__") for part in resolved_name.split(".")):
        return Severity.CRITICAL, shown + " (a module internal)"
    # (``Outer.Inner`` or ``Class.method`` stay HIGH: a class's attributes are the class's own).
    if "." in resolved_name and any(part[:1].islower() or part[:1] == "_" for part in resolved_name.split(".")[:-1]):
        return Severity.CRITICAL, shown + " (an attribute walk)"
    return Severity.HIGH, shown
