"""The fitted-structure check, the last step of the one load: skops rebuilds allow-listed types with
whatever state the file holds, and scikit-learn's compiled predict paths trust that state.

Real models of every kind ``train`` makes (and a handful of others) pass; files built by saving a
real model with skops and editing its zip (a node array, a JSON field, a list in the schema) are
refused by the one load, by registration and, through the one load, by the server, before any
prediction runs. One subprocess shows the danger is real: the unchecked tree crashes the process
(SIGSEGV) on ``predict`` when loaded with plain ``skops.io.loads``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlwarden
from mlwarden import models
from mlwarden.config import Settings
from mlwarden.errors import UnsafeModel
from mlwarden.models._allowlist import is_allowed
from mlwarden.models._fitted_check import check_fitted, checked_kinds
from mlwarden.models._serialize import load_bytes
from mlwarden.models._signing import SINGLE_FILE, sign_digests

Workspace = mlwarden.Workspace
Path_ = tuple[str | int, ...]


# ------------------------------------------------------------------------------------------ fixtures


def _frame(n: int = 48) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "amount": rng.normal(size=n),
            "purpose": rng.choice(["car", "home", "tv"], n).astype(object),
        }
    )
    frame.loc[3, "age"] = np.nan
    y = (frame["amount"] + rng.normal(size=n) > 0).astype(int).to_numpy()
    return frame, y, rng.integers(0, 3, n)


def _train_pipeline(estimator: Any, frame: pd.DataFrame, y: np.ndarray) -> Any:
    """The pipeline ``mlwarden train`` fits (models/_training.py), on a tiny frame."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                ["age", "amount"],
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                ["purpose"],
            ),
        ],
        sparse_threshold=0.0,
    )
    return Pipeline([("preprocess", pre), ("model", estimator)]).fit(frame, y)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    return _frame()


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Each kind fitted once on tiny data: the three ``train`` makes, and others the allow-list admits."""
    from sklearn.ensemble import (
        BaggingClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        IsolationForest,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.naive_bayes import GaussianNB
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    frame, y, y3 = data
    x = frame[["age", "amount"]].fillna(0).to_numpy()
    return {
        "logistic-regression": _train_pipeline(LogisticRegression(max_iter=200), frame, y),
        "random-forest": _train_pipeline(RandomForestClassifier(n_estimators=4, random_state=0), frame, y),
        "gradient-boosting": _train_pipeline(HistGradientBoostingClassifier(max_iter=4, random_state=0), frame, y),
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y),
        "gb-3-classes": GradientBoostingClassifier(n_estimators=2, max_depth=2, random_state=0).fit(x, y3),
        "bagging": BaggingClassifier(DecisionTreeClassifier(), n_estimators=2, max_features=1, random_state=0).fit(
            x, y
        ),
        "isolation-forest": IsolationForest(n_estimators=2, random_state=0).fit(x),
        "ridge": Ridge().fit(x, y3),
        "naive-bayes": GaussianNB().fit(x, y3),
        "one-hot-infrequent": OneHotEncoder(max_categories=2, handle_unknown="infrequent_if_exist").fit(
            frame[["purpose"]]
        ),
        "svc": SVC().fit(x, y3),
    }


@pytest.fixture(scope="module")
def saved(fitted: dict[str, Any]) -> dict[str, bytes]:
    return {name: models.dumps(model) for name, model in fitted.items()}


def _workspace(folder: Path) -> Workspace:
    settings = Settings(home=folder / "ws", master_key=base64.b64encode(os.urandom(32)).decode())
    return Workspace.init(settings=settings, key_source="env")


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = _workspace(tmp_path)
    yield workspace
    workspace.close()


@pytest.fixture(scope="module")
def refusing_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace for the refusals (none of them registers anything)."""
    workspace = _workspace(tmp_path_factory.mktemp("refusing"))
    yield workspace
    workspace.close()


# ------------------------------------------------------------------------- editing a skops file


def _schema_paths(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """Each schema node with its path of attribute names and list indices (the reduce/state plumbing left out)."""
    if isinstance(node, dict):
        if "__loader__" in node:
            yield path, node
        for key, value in node.items():
            if key == "content" and node.get("__loader__") == "DictNode" and isinstance(value, dict):
                for name, child in value.items():
                    yield from _schema_paths(child, (*path, name))
            elif isinstance(value, (dict, list)):
                yield from _schema_paths(value, path)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _schema_paths(item, (*path, i))


def _find(schema: dict[str, Any], suffix: Path_) -> dict[str, Any]:
    found = [node for path, node in _schema_paths(schema) if path[-len(suffix) :] == suffix]
    assert found, f"no node at ...{suffix}"
    return found[0]


def edited(data: bytes, suffix: Path_, edit: Callable[[Any], Any]) -> bytes:
    """A copy of skops ``data`` where the node at the path ending in ``suffix`` was changed by ``edit``:
    an array (``edit`` gets a writable copy and changes it, or returns a new one), or the node's JSON."""
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    node = _find(schema, suffix)
    members = {item.filename: source.read(item) for item in source.infolist()}
    if node.get("type") == "numpy" and "file" in node:
        array = np.load(io.BytesIO(members[node["file"]]), allow_pickle=False).copy()
        new = edit(array)
        if new is not None:
            array = new
        out = io.BytesIO()
        np.save(out, array, allow_pickle=False)
        members[node["file"]] = out.getvalue()
    else:
        edit(node)
        members["schema.json"] = json.dumps(schema).encode()
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return result.getvalue()


def set_json(value: Any) -> Callable[[dict[str, Any]], None]:
    """A JSON field set to ``value``; under a new ``__id__``, since skops shares a node among equal small ints."""

    def edit(node: dict[str, Any]) -> None:
        node["content"] = json.dumps(value)
        node["__id__"] = int.from_bytes(os.urandom(6), "big")

    return edit


def first_internal(nodes: np.ndarray, field: str = "left_child") -> int:
    leaf = nodes["is_leaf"].astype(bool) if "is_leaf" in nodes.dtype.names else nodes[field] == -1
    return int(np.flatnonzero(~leaf)[-1])


def set_field(field: str, value: Any, node: Callable[[np.ndarray], int] = lambda a: 0) -> Callable[[np.ndarray], None]:
    def edit(array: np.ndarray) -> None:
        array[field][node(array)] = value

    return edit


def categorical_splits(nodes: np.ndarray) -> None:
    """Every split becomes a category split whose bitset is far outside the predictor's bitsets."""
    nodes["is_categorical"] = ~nodes["is_leaf"].astype(bool)
    nodes["bitset_idx"] = 1_000_000


def sign(data: bytes, ws: Workspace) -> tuple[bytes, Any]:
    import hashlib

    private = ws._signing_keys.active(by="root")[1]
    bundle = sign_digests("model.skops", {SINGLE_FILE: hashlib.sha256(data).hexdigest()}, private)
    return bundle, private.public_key()


# ------------------------------------------------------------------------------------- real models


def test_real_models_of_every_train_kind_and_others_pass(
    fitted: dict[str, Any], saved: dict[str, bytes], data: tuple[pd.DataFrame, np.ndarray, np.ndarray], ws: Workspace
) -> None:
    frame = data[0]
    for name, data_ in saved.items():
        bundle, key = sign(data_, ws)
        model = load_bytes(data_, f"{name}.skops", bundle, key).model
        original = fitted[name]
        if name.startswith(("logistic", "random", "gradient")):
            np.testing.assert_allclose(model.predict_proba(frame.head(5)), original.predict_proba(frame.head(5)))


def test_categorical_histogram_boosting_passes(data: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> None:
    """Category splits as scikit-learn fits them (bitsets, the bin mapper, the ordinal preprocessor) pass.
    Checked in memory: such a model keeps a functools.partial, which the allow-list refuses on load."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = data[0].assign(purpose=data[0]["purpose"].astype("category"))
    model = HistGradientBoostingClassifier(
        max_iter=3, categorical_features="from_dtype", min_samples_leaf=2, random_state=0
    )
    model.fit(frame, frame["purpose"].cat.codes)
    assert any(p.nodes["is_categorical"].any() for it in model._predictors for p in it)
    check_fitted(model, "hgb.skops")


def test_what_train_registers_passes_the_gate(ws: Workspace, saved: dict[str, bytes]) -> None:
    version = ws.models.register("credit", saved["random-forest"])
    assert ws.models.load("credit", version.version).model is not None


def test_every_checked_kind_is_on_the_allow_list() -> None:
    """A misspelt name would silently refuse a kind; a name off the allow-list could never load anyway."""
    off = sorted(k for k in checked_kinds() if not is_allowed(*k.rsplit(".", 1)))
    assert off == []


# ---------------------------------------------------------------------------------- hostile files

TREE_NODES = ("tree_", "nodes")
HGB_NODES = ("_predictors", 0, 0, "nodes")

HOSTILE: list[tuple[str, str, Path_, Callable[[Any], Any], str]] = [
    (
        "child 50,000,000",
        "tree",
        TREE_NODES,
        set_field("left_child", 50_000_000),
        r"children_left\[0\] = 50000000 is outside the \d+ nodes",
    ),
    ("negative child", "tree", TREE_NODES, set_field("right_child", -7), r"children_right\[0\] = -7 is outside"),
    ("cycle", "tree", TREE_NODES, set_field("left_child", 0, first_internal), r"points back \(a cycle\)"),
    ("shared node", "tree", TREE_NODES, set_field("right_child", 1), r"node \d+ is reached \d+ times from the root"),
    ("one child", "tree", TREE_NODES, set_field("right_child", -1), "has one child"),
    (
        "feature out of range",
        "tree",
        TREE_NODES,
        set_field("feature", 9),
        r"feature\[0\] = 9 is outside the 2 features",
    ),
    ("value too short", "tree", ("tree_", "values"), lambda a: a[:-1].copy(), "could not be loaded by skops|value"),
    (
        "forest tree child out of range",
        "random-forest",
        ("estimators_", 2, "tree_", "nodes"),
        set_field("left_child", 50_000_000),
        r"model\.steps\[1\]\[1\]\.estimators_\[2\]\.tree_: children_left\[0\] = 50000000",
    ),
    (
        "forest tree reads another width",
        "random-forest",
        ("estimators_", 1, "n_features_in_"),
        set_json(40),
        "features",
    ),
    (
        "hgb left out of range",
        "gradient-boosting",
        HGB_NODES,
        set_field("left", 4_000_000_000),
        r"nodes\.left\[0\] = 4000000000 is outside",
    ),
    (
        "hgb feature out of range",
        "gradient-boosting",
        HGB_NODES,
        set_field("feature_idx", 60),
        r"feature_idx\[0\] = 60 is outside the 5",
    ),
    (
        "hgb bitset out of range",
        "gradient-boosting",
        HGB_NODES,
        categorical_splits,
        r"bitset_idx\[0\] = 1000000 is outside the \d+ category bitsets",
    ),
    (
        "hgb bitsets narrower than 8 words",
        "gradient-boosting",
        ("_predictors", 0, 0, "raw_left_cat_bitsets"),
        lambda a: np.zeros((4, 1), dtype=np.uint32),
        r"not \(n, 8\) uint32",
    ),
    (
        "gb grid wider than its init",
        "gb-3-classes",
        ("init_", "classes_"),
        lambda a: a[:2].copy(),
        r"init_: does not predict the model's 3 classes",
    ),
    ("gb trees per iteration", "gb-3-classes", ("n_trees_per_iteration_",), set_json(1), "trees per iteration"),
    (
        "coef_ wrong shape",
        "logistic-regression",
        ("steps", 1, 1, "coef_"),
        lambda a: a[:, :2].copy(),
        r"coef_ has shape \(1, 2\) for 5 features",
    ),
    ("coef_ not finite", "ridge", ("coef_",), lambda a: a * np.inf, "coef_ holds values that are not finite"),
    (
        "statistics_ too short",
        "logistic-regression",
        ("transformers_", 0, 1, "steps", 0, 1, "statistics_"),
        lambda a: a[:1].copy(),
        "statistics_ has 1 entries for 2 features",
    ),
    (
        "one-hot count wrong",
        "one-hot-infrequent",
        ("_n_features_outs", 0),
        set_json(40),
        r"_n_features_outs \[40\] should be",
    ),
    (
        # transform would not group the infrequent categories, yet _n_features_outs counts them grouped:
        # the last category's column index is past the matrix.
        "one-hot infrequent grouping off",
        "one-hot-infrequent",
        ("_infrequent_enabled",),
        set_json(False),
        r"_n_features_outs \[2\] should be \[3\]",
    ),
    (
        "categories_ count wrong",
        "random-forest",
        ("transformers_", 1, 1, "steps", 1, 1, "categories_"),
        lambda node: node["content"].append(node["content"][0]),
        "categories_ (has|holds) 2 (entries|lists) for 1 features",
    ),
    ("nb var_ wrong width", "naive-bayes", ("var_",), lambda a: a[:, :1].copy(), "var_ has 1 entries for 2 features"),
    (
        "bagging features outside",
        "bagging",
        ("estimators_features_", 0),
        lambda a: a + 100,
        r"estimators_features_\[0\] names columns outside the 2 features",
    ),
    (
        "libsvm support counts",
        "svc",
        ("_n_support",),
        lambda a: a + np.array([0, 0, 500], dtype=a.dtype),
        r"_n_support \[\d+, \d+, \d+\] does not count the \d+ support vectors",
    ),
    ("libsvm dual coefficients", "svc", ("_dual_coef_",), lambda a: a[:, :3].copy(), r"_dual_coef_ has shape \(2, 3\)"),
    ("libsvm intercepts", "svc", ("_intercept_",), lambda a: a[:1].copy(), "_intercept_ has 1 entries, not 3"),
]


@pytest.mark.parametrize(("case", "kind", "suffix", "edit", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_the_one_load_refuses_a_broken_structure_before_predict(
    case: str,
    kind: str,
    suffix: Path_,
    edit: Callable[[Any], Any],
    message: str,
    saved: dict[str, bytes],
    refusing_ws: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostile = edited(saved[kind], suffix, edit)
    assert models.scan_bytes(hostile, "m.skops").findings == ()  # the scanner has nothing to say: only the gate
    ran: list[str] = []
    for cls in _predicting_classes():
        for method in ("predict", "predict_proba", "transform", "decision_function"):
            if hasattr(cls, method):
                monkeypatch.setattr(cls, method, lambda *a, _m=method, **k: ran.append(_m))
    bundle, key = sign(hostile, refusing_ws)
    with pytest.raises(UnsafeModel, match=message):
        load_bytes(hostile, "m.skops", bundle, key)
    with pytest.raises(UnsafeModel, match=message):
        refusing_ws.models.register("hostile", hostile)
    assert refusing_ws.models.list() == []
    assert ran == []


def _predicting_classes() -> list[type]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    return [Pipeline, DecisionTreeClassifier, RandomForestClassifier, HistGradientBoostingClassifier]


def test_kinds_without_a_structure_check_are_refused(refusing_ws: Workspace) -> None:
    """k-nearest neighbours keep a KD tree whose node arrays Cython reads unchecked, k-means its centres:
    no check exists for either, so they are refused (fail closed), naming the class."""
    from sklearn.cluster import KMeans
    from sklearn.neighbors import KNeighborsClassifier

    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]] * 3)
    y = np.array([0, 1, 1, 0] * 3)
    for model, name in (
        (KMeans(2, n_init=1, random_state=0).fit(x), "sklearn.cluster._kmeans.KMeans"),
        (KNeighborsClassifier(3).fit(x, y), "sklearn.neighbors._classification.KNeighborsClassifier"),
    ):
        data = models.dumps(model)
        bundle, key = sign(data, refusing_ws)
        with pytest.raises(UnsafeModel, match=f"no structure check exists for {name}"):
            load_bytes(data, "m.skops", bundle, key)


def test_a_tree_outside_its_estimator_is_refused(fitted: dict[str, Any]) -> None:
    with pytest.raises(UnsafeModel, match=r"model\[0\]: a Tree outside the estimator"):
        check_fitted([fitted["tree"].tree_], "m.skops")


def test_the_unchecked_tree_really_crashes_plain_skops(saved: dict[str, bytes], tmp_path: Path) -> None:
    """The danger is real: loaded with skops (its types trusted) and no structure check, predict is a SIGSEGV."""
    path = tmp_path / "hostile.skops"
    path.write_bytes(edited(saved["tree"], TREE_NODES, set_field("left_child", 50_000_000)))
    code = (
        "import sys, numpy as np, skops.io as sio\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "model = sio.loads(data, trusted=[str(t) for t in sio.get_untrusted_types(data=data)])\n"
        "print('loaded', flush=True)\n"
        "model.predict(np.full((64, 2), -1e9))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert "loaded" in done.stdout
    assert done.returncode == -signal.SIGSEGV, (done.returncode, done.stderr[-500:])


def test_a_hostile_model_registered_before_the_check_is_not_served(
    saved: dict[str, bytes], ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry written before this check (or by a registration that skipped it) can hold a hostile
    model; the server loads through the one load, so it refuses it like any other failure."""
    from mlwarden.models import _registry
    from mlwarden.serve import ServeConfig
    from mlwarden.serve._loading import load_models

    hostile = edited(saved["random-forest"], ("estimators_", 2, "tree_", "nodes"), set_field("left_child", 50_000_000))
    with monkeypatch.context() as patch:
        patch.setattr(_registry, "load_scanned", lambda data, name: None)
        ws.models.register("old", hostile)
    served, failures = load_models(ws, ServeConfig(models=("old",), extraction_monitor=False))
    assert served == {}
    assert [(f.ref, f.error) for f in failures] == [("old", "UnsafeModel")]
    assert "estimators_[2].tree_: children_left[0] = 50000000 is outside" in failures[0].message
