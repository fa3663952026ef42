"""Loader-proofs: opens each hostile file with its usual loader and reports whether the payload ran.

Run as a script (``python _runner.py < spec.json``), once for the whole corpus: the heavy loaders
(numpy, joblib, skops, jinja2) are imported once, then each file is loaded in a fresh ``os.fork``
child (a payload cannot change what the next one sees; a crash or hang is that file's error only)
from a scratch working folder. The spec is a JSON list of ``{"name", "path", "canary", "proof"}``;
the answer, on stdout, maps each name to ``{"ran": bool, "error": str | null}``: ``ran`` is whether
the canary file exists after the load (loaders may raise *after* the payload ran: that is kept as
``error`` and does not count against ``ran``).

Loaders: ``pickle`` (``pickle.load``), ``pickle_all`` (``pickle.load`` until the end, as readers of
pickle streams do), ``joblib`` (``joblib.load``), ``numpy`` (``numpy.load(allow_pickle=True)``, every
member of an ``.npz``), ``skops`` (``skops.io.load`` trusting the types ``get_untrusted_types`` lists),
``tar``/``zip`` (the member, then ``inner`` on its bytes), ``torch`` (a zip member unpickled the way
``torch.load(weights_only=False)`` does, with a ``persistent_load``), ``gguf`` (the
``tokenizer.chat_template`` rendered by ``jinja2.Environment``, as llama-cpp-python < 0.2.72 did).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import struct
import sys
import tarfile
import tempfile
import traceback
import warnings
import zipfile
from typing import Any


def _pickle_all(fh: Any) -> None:
    while True:
        try:
            pickle.load(fh)  # noqa: S301 - a loader-proof: hostile on purpose, in a forked child
        except EOFError:
            return


class _TorchUnpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        return pid


def _load_bytes(data: bytes, loader: str, proof: dict[str, Any]) -> None:
    if loader == "pickle":
        pickle.loads(data)  # noqa: S301 - a loader-proof: hostile on purpose, in a forked child
    elif loader == "pickle_all":
        _pickle_all(io.BytesIO(data))
    elif loader == "joblib":
        import joblib

        joblib.load(io.BytesIO(data))
    elif loader == "numpy":
        import numpy as np

        loaded = np.load(io.BytesIO(data), allow_pickle=True)
        if hasattr(loaded, "files"):
            for key in loaded.files:
                loaded[key]
    elif loader == "torch":
        _TorchUnpickler(io.BytesIO(data)).load()
    elif loader == "skops":
        import skops.io

        skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    elif loader.startswith("zip:"):  # zip:<member>:<loader>, a zip inside a zip
        _, member, inner = loader.split(":")
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _load_bytes(zf.read(member), inner, proof)
    else:
        raise ValueError(f"unknown loader {loader}")


def _gguf_template(data: bytes) -> str:
    """Minimal GGUF v3 reader: the string value of ``tokenizer.chat_template``."""
    if data[:4] != b"GGUF":
        raise ValueError("not GGUF")
    pos = 8
    _tensors, kvs = struct.unpack_from("<QQ", data, pos)
    pos += 16
    for _ in range(kvs):
        (klen,) = struct.unpack_from("<Q", data, pos)
        key = data[pos + 8 : pos + 8 + klen].decode()
        pos += 8 + klen
        (vtype,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if vtype != 8:
            raise ValueError("this reader knows string values only")
        (vlen,) = struct.unpack_from("<Q", data, pos)
        value = data[pos + 8 : pos + 8 + vlen].decode()
        pos += 8 + vlen
        if key == "tokenizer.chat_template":
            return value
    raise ValueError("no chat template")


def _load(path: str, proof: dict[str, Any]) -> None:
    loader = proof["loader"]
    if loader == "joblib":
        import joblib

        joblib.load(path)
    elif loader == "numpy":
        import numpy as np

        loaded = np.load(path, allow_pickle=True)
        if hasattr(loaded, "files"):
            for key in loaded.files:
                loaded[key]
    elif loader == "skops":
        import skops.io

        # The user trusts what skops says is untrusted (its documented way to load such a file).
        skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    elif loader == "tar":
        with tarfile.open(path) as tf:
            member = proof["member"]
            fh = tf.extractfile(tf.getmembers()[int(member[1:])] if member.startswith("#") else member)
            assert fh is not None
            _load_bytes(fh.read(), proof["inner"], proof)
    elif loader in ("zip", "torch"):
        with zipfile.ZipFile(path) as zf:
            _load_bytes(zf.read(proof["member"]), proof["inner"] or loader, proof)
    elif loader == "gguf":
        import jinja2

        with open(path, "rb") as fh:
            template = _gguf_template(fh.read())
        # Unsandboxed, as llama-cpp-python rendered chat templates before 0.2.72 (CVE-2024-34359).
        env = jinja2.Environment()  # noqa: S701
        env.from_string(template).render(messages=[{"role": "user", "content": "hi"}])
    else:
        with open(path, "rb") as fh:
            _load_bytes(fh.read(), loader, proof)


def _child(item: dict[str, Any], err_path: str) -> None:
    signal.alarm(30)
    # Whatever a loader or payload prints must not mix with the JSON answer on stdout.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _load(item["path"], item["proof"])
    except BaseException:
        with open(err_path, "w") as fh:
            fh.write(traceback.format_exc(limit=1).strip().splitlines()[-1])
        os._exit(1)
    os._exit(0)


def main() -> None:
    items = json.load(sys.stdin)
    # Import the loaders once, before forking, so each child starts warm.
    import jinja2  # noqa: F401
    import joblib  # noqa: F401
    import numpy  # noqa: F401
    import skops.io  # noqa: F401

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for n, item in enumerate(items):
            err_path = os.path.join(scratch, f"{n}.err")
            work = os.path.join(scratch, str(n))
            os.mkdir(work)
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                os.chdir(work)
                _child(item, err_path)
            _, status = os.waitpid(pid, 0)
            error = None
            if os.path.exists(err_path):
                with open(err_path) as fh:
                    error = fh.read()
            elif status != 0:
                error = f"child ended with status {status}"
            results[item["name"]] = {"ran": os.path.exists(item["canary"]), "error": error}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
