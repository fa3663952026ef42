"""The compiled prediction path against scikit-learn itself.

scikit-learn is the oracle: every comparison calls the fitted pipeline on a DataFrame built here,
independently of the module, from the ORIGINAL training objects (bools, ints, strings with
spaces, NaN for null), and the compiled predictor on the server's batch format (``str()`` of each
value, ``None`` for null). Probabilities must agree within 1e-9 and labels exactly, for the three
estimators ``mlwarden train`` fits, on the credit data and on synthetic data with nulls, bool and
integer-looking categoricals, unknown categories and multiclass targets; hypothesis draws random
batches. Pipelines of any other shape must fall back (and still be right), and a compiled path
that disagrees with scikit-learn must be caught by the self-check.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler
from threadpoolctl import threadpool_limits

from mlwarden.errors import BadInput
from mlwarden.models._training import TrainResult, fit_classifier
from mlwarden.serve import _compiled
from mlwarden.serve._compiled import build_predictor
from mlwarden.serve._predictor import Prediction
from mlwarden.usecases import german_credit_csv

ESTIMATORS = ("logistic", "random-forest", "gradient-boosting")
TOLERANCE = 1e-9
UNKNOWN = {"owner": "maybe", "rooms": "7", "zone": "99", "city": "atlantis", "flag": "yes"}


# --------------------------------------------------------------------------------------------
# Data, models and the oracle.


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    # Gradient boosting predicts with OpenMP on every core; on a shared machine running tests in parallel
    # that turns milliseconds into seconds. One thread gives the same numbers.
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@functools.cache
def credit() -> pd.DataFrame:
    return pd.read_csv(german_credit_csv())


@functools.cache
def credit_model(estimator: str) -> TrainResult:
    return fit_classifier(credit(), "creditability", estimator=estimator)


def synthetic(rows: int, seed: int) -> pd.DataFrame:
    """Nulls everywhere they can be, a bool column with nulls (object), a pure bool column, Python ints in an
    object column, integer-looking strings, strings with spaces; a three-class and a binary integer target."""
    rng = np.random.default_rng(seed)

    def with_nulls(values: list[Any], share: float = 0.1) -> pd.Series:
        return pd.Series([math.nan if rng.random() < share else v for v in values], dtype=object)

    income = rng.normal(3000, 900, rows)
    income[rng.random(rows) < 0.1] = np.nan
    age = rng.integers(18, 80, rows)
    owner = rng.random(rows) < 0.4
    rooms = rng.integers(1, 6, rows)
    frame = pd.DataFrame(
        {
            "income": income,
            "age": age,
            "owner": with_nulls([bool(v) for v in owner]),
            "rooms": with_nulls([int(v) for v in rooms]),
            "zone": with_nulls([str(v) for v in rng.choice([1, 2, 10, 11], rows)]),
            "city": with_nulls(list(rng.choice(["new york", "los angeles", "san francisco"], rows))),
            "flag": rng.random(rows) < 0.5,
        }
    )
    score = np.nan_to_num((income - 3000) / 900) + 0.03 * (age - 50) + owner + 0.3 * rooms + rng.normal(0, 0.7, rows)
    frame["band"] = np.where(score < 0.5, "low", np.where(score < 1.6, "mid", "high"))
    frame["default"] = (score + rng.normal(0, 0.5, rows) > 1.0).astype(int)
    return frame


@functools.cache
def synthetic_model(estimator: str, target: str) -> TrainResult:
    frame = synthetic(500, seed=0).drop(columns=[t for t in ("band", "default") if t != target])
    return fit_classifier(frame, target, estimator=estimator)


@functools.cache
def predictor(source: str, estimator: str, target: str = "") -> Any:
    trained = credit_model(estimator) if source == "credit" else synthetic_model(estimator, target)
    return build_predictor(trained.pipeline, trained.input_schema)


def objects(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """Features as ``mlwarden train`` handed them to scikit-learn: categorical columns as object columns."""
    names = [c["name"] for c in schema["columns"]]
    categorical = [c["name"] for c in schema["columns"] if c["type"] == "categorical"]
    return frame[names].astype({c: object for c in categorical})


def to_batch(frame: pd.DataFrame, schema: dict[str, Any]) -> dict[str, np.ndarray]:
    """The server's batch format: float64 with NaN; object arrays of str() with None for null."""
    batch: dict[str, np.ndarray] = {}
    for column in schema["columns"]:
        values = frame[column["name"]]
        if column["type"] == "numeric":
            batch[column["name"]] = values.to_numpy(dtype=np.float64)
        else:
            batch[column["name"]] = np.array([None if _null(v) else str(v) for v in values], dtype=object)
    return batch


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def assert_matches(prediction: Prediction, pipeline: Any, frame: pd.DataFrame) -> None:
    """Probabilities within 1e-9, identical labels of plain Python types, the preprocessed matrix."""
    expected = pipeline.predict_proba(frame)
    assert prediction.proba.dtype == np.float64
    assert prediction.proba.shape == expected.shape
    assert np.max(np.abs(prediction.proba - expected)) <= TOLERANCE
    labels = pipeline.predict(frame).tolist()
    assert prediction.labels == labels
    assert [type(v) for v in prediction.labels] == [type(v) for v in labels]
    assert all(type(v) in (str, int, bool, float) for v in prediction.labels)
    if prediction.features is not None:
        matrix = pipeline[:-1].transform(frame)
        dense = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
        assert prediction.features.dtype == np.float64
        np.testing.assert_allclose(prediction.features, dense, rtol=0, atol=1e-12)


def with_unknown_and_null_rows(frame: pd.DataFrame, schema: dict[str, Any]) -> pd.DataFrame:
    """``frame`` plus a row of nulls and, per categorical column, a row with an unknown category there."""
    extra = [{c["name"]: math.nan for c in schema["columns"]}]
    for column in schema["columns"]:
        if column["type"] == "categorical":
            row = frame.iloc[0].to_dict()
            row[column["name"]] = UNKNOWN.get(column["name"], "no such category")
            extra.append(row)
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)


# --------------------------------------------------------------------------------------------
# Equality with scikit-learn.


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_credit_models_compile_and_match_scikit_learn(estimator: str) -> None:
    trained = credit_model(estimator)
    built = predictor("credit", estimator)
    assert built.compiled
    assert built.why_not_compiled is None
    assert built.classes == ("bad", "good")
    frame = objects(credit(), trained.input_schema)
    prediction = built.predict(to_batch(frame, trained.input_schema))
    assert_matches(prediction, trained.pipeline, frame)
    # Nulls the credit data does not have, in every column, and unknown categories.
    rng = np.random.default_rng(1)
    holes = frame.iloc[:300].mask(rng.random((300, frame.shape[1])) < 0.15)
    holes = objects(with_unknown_and_null_rows(holes, trained.input_schema), trained.input_schema)
    assert_matches(built.predict(to_batch(holes, trained.input_schema)), trained.pipeline, holes)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_one_row_batches_match_the_same_rows_in_a_batch(estimator: str) -> None:
    trained = credit_model(estimator)
    built = predictor("credit", estimator)
    frame = objects(credit().iloc[:8], trained.input_schema)
    batch = to_batch(frame, trained.input_schema)
    whole = built.predict(batch)
    for i in range(len(frame)):
        single = built.predict({k: v[i : i + 1] for k, v in batch.items()})
        assert single.labels == whole.labels[i : i + 1]
        assert np.max(np.abs(single.proba - whole.proba[i])) <= TOLERANCE
        assert_matches(single, trained.pipeline, frame.iloc[i : i + 1])


@pytest.mark.parametrize("target", ["band", "default"])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_synthetic_models_match_scikit_learn(estimator: str, target: str) -> None:
    trained = synthetic_model(estimator, target)
    built = predictor("synthetic", estimator, target)
    assert built.compiled, built.why_not_compiled
    assert built.classes == (("high", "low", "mid") if target == "band" else (0, 1))
    assert all(type(c) is (str if target == "band" else int) for c in built.classes)
    fresh = with_unknown_and_null_rows(synthetic(300, seed=7), trained.input_schema)
    frame = objects(fresh, trained.input_schema)
    prediction = built.predict(to_batch(frame, trained.input_schema))
    assert_matches(prediction, trained.pipeline, frame)


def test_the_synthetic_schema_is_what_the_test_means() -> None:
    # Guards the test data: bools, ints and integer-looking strings really are categorical columns.
    columns = {c["name"]: c for c in synthetic_model("logistic", "band").input_schema["columns"]}
    assert {n for n, c in columns.items() if c["type"] == "categorical"} == {"owner", "rooms", "zone", "city", "flag"}
    assert columns["owner"]["categories"] == ["False", "True"]
    assert columns["rooms"]["categories"] == ["1", "2", "3", "4", "5"]
    encoder = synthetic_model("logistic", "band").pipeline[0].named_transformers_["categorical"][-1]
    assert any(type(v) is bool for v in encoder.categories_[0])  # the encoder holds the original objects


def test_unknown_categories_give_a_zero_block_and_nulls_the_imputed_category() -> None:
    trained = synthetic_model("logistic", "band")
    built = predictor("synthetic", "logistic", "band")
    pre = trained.pipeline[0]
    categorical = pre.named_transformers_["categorical"]
    names = list(pre.transformers_[1][2])
    city = names.index("city")
    sizes = [len(c) for c in categorical[-1].categories_]
    start = len(pre.transformers_[0][2]) + sum(sizes[:city])
    block = slice(start, start + sizes[city])
    frame = objects(synthetic(3, seed=3), trained.input_schema)
    batch = to_batch(frame, trained.input_schema)
    batch["city"] = np.array(["atlantis", None, math.nan], dtype=object)
    features = built.predict(batch).features
    assert features is not None
    assert not features[0, block].any()
    imputed = list(categorical[-1].categories_[city]).index(categorical[0].statistics_[city])
    for row in (1, 2):  # None and a float NaN are both null
        assert features[row, block].tolist() == [1.0 if i == imputed else 0.0 for i in range(sizes[city])]


@functools.cache
def wide_model() -> TrainResult:
    """250 categories (the schema keeps 200) and one numeric column: the ColumnTransformer output is sparse."""
    rng = np.random.default_rng(5)
    rows = 1500
    kind = rng.integers(0, 250, rows)
    frame = pd.DataFrame({"kind": [f"kind {k:03d}" for k in kind], "x": rng.normal(size=rows)})
    frame["y"] = np.where((kind % 3 == 0) ^ (frame["x"] > 0.5), "yes", "no")
    return fit_classifier(frame, "y", estimator="logistic")


def test_categories_beyond_the_schema_list_and_a_sparse_transformer_output() -> None:
    trained = wide_model()
    schema = trained.input_schema
    assert len(next(c for c in schema["columns"] if c["name"] == "kind")["categories"]) == 200
    late = pd.DataFrame({"kind": [f"kind {k:03d}" for k in range(200, 250)], "x": np.linspace(-2, 2, 50)})
    frame = objects(late, schema)
    assert hasattr(trained.pipeline[0].transform(frame), "toarray")  # sparse: the compiled path is dense
    built = build_predictor(trained.pipeline, schema)
    assert built.compiled, built.why_not_compiled
    assert_matches(built.predict(to_batch(frame, schema)), trained.pipeline, frame)


def test_gradient_boosting_on_many_categories() -> None:
    # One-hot columns dominate here: the ColumnTransformer would go sparse, which gradient boosting refuses.
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"kind": rng.choice([f"k{i}" for i in range(40)], 400), "y": rng.choice(["a", "b"], 400)})
    frame["x"] = rng.normal(size=400)
    trained = fit_classifier(frame, "y", estimator="gradient-boosting")
    built = build_predictor(trained.pipeline, trained.input_schema)
    assert built.compiled, built.why_not_compiled
    features = objects(frame.iloc[:50], trained.input_schema)
    assert_matches(built.predict(to_batch(features, trained.input_schema)), trained.pipeline, features)


# --------------------------------------------------------------------------------------------
# Random batches (hypothesis).


def _random_batches(schema: dict[str, Any]) -> st.SearchStrategy[pd.DataFrame]:
    """Frames of 1-12 rows of ORIGINAL objects: numbers in and far outside the range, nulls, unknown categories."""
    cells: dict[str, st.SearchStrategy[Any]] = {}
    for column in schema["columns"]:
        if column["type"] == "numeric":
            span = column["max"] - column["min"] + 1
            numbers = st.floats(column["min"] - 3 * span, column["max"] + 3 * span, allow_nan=False)
            edges = st.sampled_from([column["min"], column["max"]])
            cells[column["name"]] = st.one_of(st.just(math.nan), numbers, edges)
        else:
            # A string that prints like a training value IS that value in a batch ("1" is the int 1): not unknown.
            printed = {str(v) for v in column["originals"]}
            unknown = st.text(max_size=6).filter(lambda text, printed=printed: text not in printed)
            cells[column["name"]] = unknown | st.just(math.nan) | st.sampled_from(column["originals"])
    categorical = {c["name"] for c in schema["columns"] if c["type"] == "categorical"}

    def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
        # Object columns for categories, or pandas would turn ints with NaN into floats (1 -> 1.0).
        columns = {n: pd.Series([r[n] for r in rows], dtype=object if n in categorical else float) for n in cells}
        return pd.DataFrame(columns)

    return st.lists(st.fixed_dictionaries(cells), min_size=1, max_size=12).map(frame)


def _with_originals(trained: TrainResult, frame: pd.DataFrame) -> dict[str, Any]:
    """The schema plus, per categorical column, its original training objects (found here, from the data)."""
    columns = []
    for column in trained.input_schema["columns"]:
        column = dict(column)
        if column["type"] == "categorical":
            column["originals"] = sorted(frame[column["name"]].dropna().unique().tolist(), key=str)
        columns.append(column)
    return {"columns": columns}


@pytest.mark.parametrize(
    ("estimator", "target"), [("logistic", "band"), ("random-forest", "default"), ("gradient-boosting", "band")]
)
def test_random_batches_match_scikit_learn(estimator: str, target: str) -> None:
    trained = synthetic_model(estimator, target)
    built = predictor("synthetic", estimator, target)
    assert built.compiled
    schema = _with_originals(trained, synthetic(500, seed=0))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_random_batches(schema))
    def check(drawn: pd.DataFrame) -> None:
        frame = objects(drawn, trained.input_schema)
        assert_matches(built.predict(to_batch(frame, trained.input_schema)), trained.pipeline, frame)

    check()


# --------------------------------------------------------------------------------------------
# The fallback and the self-check.


def _variant(numeric: list[Any], categorical: list[Any], model: Any) -> tuple[Pipeline, dict[str, Any], pd.DataFrame]:
    """A pipeline like the trained one with other steps, fitted on the synthetic data."""
    trained = synthetic_model("logistic", "band")
    schema = trained.input_schema
    features = objects(synthetic(400, seed=0), schema)
    numeric_columns = [c["name"] for c in schema["columns"] if c["type"] == "numeric"]
    categoricals = [c["name"] for c in schema["columns"] if c["type"] == "categorical"]
    pipeline = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("numeric", Pipeline([(f"n{i}", s) for i, s in enumerate(numeric)]), numeric_columns),
                        ("categorical", Pipeline([(f"c{i}", s) for i, s in enumerate(categorical)]), categoricals),
                    ]
                ),
            ),
            ("model", model),
        ]
    )
    pipeline.fit(features, synthetic(400, seed=0)["band"])
    return pipeline, schema, features


def _trained_steps() -> tuple[list[Any], list[Any]]:
    return (
        [SimpleImputer(strategy="median"), StandardScaler()],
        [SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")],
    )


def test_a_hand_built_pipeline_of_the_trained_shape_compiles() -> None:
    numeric, categorical = _trained_steps()
    pipeline, schema, _ = _variant(numeric, categorical, LogisticRegression(max_iter=500))
    built = build_predictor(pipeline, schema)
    assert built.compiled, built.why_not_compiled


FALLBACK_CASES: dict[str, Callable[[], tuple[list[Any], list[Any], Any]]] = {
    "polynomial features": lambda: (
        [SimpleImputer(strategy="median"), PolynomialFeatures(2), StandardScaler()],
        _trained_steps()[1],
        LogisticRegression(max_iter=500),
    ),
    "another imputer": lambda: (
        [KNNImputer(), StandardScaler()],
        _trained_steps()[1],
        LogisticRegression(max_iter=500),
    ),
    "imputer adding indicators": lambda: (
        [SimpleImputer(strategy="median", add_indicator=True), StandardScaler()],
        _trained_steps()[1],
        LogisticRegression(max_iter=500),
    ),
    "encoder dropping a category": lambda: (
        _trained_steps()[0],
        [SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", drop="if_binary")],
        LogisticRegression(max_iter=500),
    ),
    "encoder grouping rare categories": lambda: (
        _trained_steps()[0],
        [
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.3),
        ],
        LogisticRegression(max_iter=500),
    ),
    "another estimator": lambda: (*_trained_steps(), KNeighborsClassifier(5)),
}


@pytest.mark.filterwarnings("ignore:Found unknown categories:UserWarning")  # the drop="if_binary" encoder
@pytest.mark.parametrize("case", sorted(FALLBACK_CASES))
def test_other_shapes_fall_back_and_stay_correct(case: str) -> None:
    pipeline, schema, _ = _variant(*FALLBACK_CASES[case]())
    built = build_predictor(pipeline, schema)
    assert not built.compiled
    assert isinstance(built.why_not_compiled, str)
    assert built.why_not_compiled
    frame = objects(with_unknown_and_null_rows(synthetic(60, seed=9), schema), schema)
    prediction = built.predict(to_batch(frame, schema))
    assert prediction.features is not None  # the fallback keeps pipeline[:-1].transform
    assert_matches(prediction, pipeline, frame)


def test_a_bare_estimator_falls_back_without_features() -> None:
    frame = synthetic(300, seed=0)
    model = LogisticRegression(max_iter=500).fit(frame[["age"]], frame["default"])
    schema = {"columns": [{"name": "age", "type": "numeric", "nullable": False, "min": 18.0, "max": 79.0}]}
    built = build_predictor(model, schema)
    assert not built.compiled
    assert "Pipeline" in str(built.why_not_compiled)
    prediction = built.predict({"age": np.array([20.0, 70.0])})
    assert prediction.features is None
    np.testing.assert_array_equal(prediction.proba, model.predict_proba(pd.DataFrame({"age": [20.0, 70.0]})))
    assert prediction.labels == model.predict(pd.DataFrame({"age": [20.0, 70.0]})).tolist()
    assert built.classes == (0, 1)


def test_the_self_check_catches_a_compiled_path_that_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    trained = synthetic_model("logistic", "band")
    estimate = _compiled._CompiledPredictor._estimate

    def off_by_a_little(self: Any, x: np.ndarray) -> Any:
        proba, labels = estimate(self, x)
        return proba + 1e-8, labels

    monkeypatch.setattr(_compiled._CompiledPredictor, "_estimate", off_by_a_little)
    built = build_predictor(trained.pipeline, trained.input_schema)
    assert not built.compiled
    assert "self-check" in str(built.why_not_compiled)

    def wrong_label_on_a_tie(self: Any, x: np.ndarray) -> Any:
        proba, labels = estimate(self, x)
        labels = labels.copy()
        labels[len(labels) // 2] = (labels[len(labels) // 2] + 1) % proba.shape[1]
        return proba, labels

    monkeypatch.setattr(_compiled._CompiledPredictor, "_estimate", wrong_label_on_a_tie)
    built = build_predictor(trained.pipeline, trained.input_schema)
    assert not built.compiled
    assert "labels" in str(built.why_not_compiled)
    frame = objects(synthetic(20, seed=4), trained.input_schema)
    assert_matches(built.predict(to_batch(frame, trained.input_schema)), trained.pipeline, frame)


def test_a_failing_compiled_path_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    trained = synthetic_model("random-forest", "band")

    def broken(self: Any, x: np.ndarray) -> Any:
        raise IndexError("a bug")

    monkeypatch.setattr(_compiled._CompiledPredictor, "_estimate", broken)
    built = build_predictor(trained.pipeline, trained.input_schema, check_rows=16)
    assert not built.compiled
    assert "IndexError" in str(built.why_not_compiled)


def test_a_schema_that_does_not_match_the_pipeline_falls_back_or_is_refused() -> None:
    trained = synthetic_model("logistic", "band")
    columns = trained.input_schema["columns"]
    nullable_int = [dict(c, dtype="Int64") if c["name"] == "age" else c for c in columns]  # pandas' nullable ints
    assert build_predictor(trained.pipeline, {"columns": nullable_int}, check_rows=32).compiled
    as_float32 = [dict(c, dtype="float32") if c["name"] == "income" else c for c in columns]
    built = build_predictor(trained.pipeline, {"columns": as_float32}, check_rows=32)
    assert not built.compiled
    assert "float32" in str(built.why_not_compiled)
    swapped = [dict(c, type="categorical", categories=["1"]) if c["name"] == "age" else c for c in columns]
    built = build_predictor(trained.pipeline, {"columns": swapped})
    assert not built.compiled
    assert "schema" in str(built.why_not_compiled)
    with pytest.raises(BadInput, match="city"):
        build_predictor(trained.pipeline, {"columns": [c for c in columns if c["name"] != "city"]})


# --------------------------------------------------------------------------------------------
# Threads and bad input.


@pytest.mark.parametrize("estimator", ["logistic", "random-forest"])
def test_concurrent_predictions_agree_with_sequential_ones(estimator: str) -> None:
    trained = credit_model(estimator)
    built = predictor("credit", estimator)
    frame = objects(credit(), trained.input_schema)
    batch = to_batch(frame, trained.input_schema)
    slices = [(start, start + size) for start in range(0, 900, 37) for size in (1, 5, 64)]
    expected = [built.predict({k: v[a:b] for k, v in batch.items()}) for a, b in slices]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda ab: built.predict({k: v[ab[0] : ab[1]] for k, v in batch.items()}), slices * 3))
    for i, prediction in enumerate(got):
        want = expected[i % len(slices)]
        assert prediction.labels == want.labels
        np.testing.assert_array_equal(prediction.proba, want.proba)
        np.testing.assert_array_equal(prediction.features, want.features)


@pytest.mark.parametrize("compiled", [True, False])
def test_bad_batches_are_refused(compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    trained = synthetic_model("logistic", "band")
    if not compiled:

        def refuse(*_: Any) -> Any:
            raise _compiled._NotCompilable("switched off by the test")

        monkeypatch.setattr(_compiled, "_compile", refuse)
    built = build_predictor(trained.pipeline, trained.input_schema, check_rows=8)
    assert built.compiled is compiled
    good = to_batch(objects(synthetic(4, seed=2), trained.input_schema), trained.input_schema)
    built.predict(good)
    with pytest.raises(BadInput, match="no column 'city'"):
        built.predict({k: v for k, v in good.items() if k != "city"})
    with pytest.raises(BadInput, match="differ in length"):
        built.predict({**good, "age": good["age"][:2]})
    with pytest.raises(BadInput, match="no rows"):
        built.predict({k: v[:0] for k, v in good.items()})
    with pytest.raises(BadInput, match="income"):
        built.predict({**good, "income": np.array([1.0, np.inf, 2.0, 3.0])})


def test_bad_schemas_and_models_are_refused() -> None:
    trained = synthetic_model("logistic", "band")
    with pytest.raises(BadInput, match="no columns"):
        build_predictor(trained.pipeline, {"columns": []})
    with pytest.raises(BadInput, match="type"):
        build_predictor(trained.pipeline, {"columns": [{"name": "age", "type": "text"}]})
    with pytest.raises(BadInput, match="twice"):
        build_predictor(trained.pipeline, {"columns": trained.input_schema["columns"] * 2})
    with pytest.raises(BadInput, match="at least one row"):
        build_predictor(trained.pipeline, trained.input_schema, check_rows=0)
    with pytest.raises(BadInput, match="predict_proba"):
        build_predictor(StandardScaler().fit([[0.0], [1.0]]), {"columns": [{"name": "a", "type": "numeric"}]})
