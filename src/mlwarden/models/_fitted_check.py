"""The fitted-structure check: the last step of the one load, between skops and any prediction.

skops rebuilds only allow-listed types, but it rebuilds them with whatever *state* the file holds,
and scikit-learn's compiled code trusts that state: a decision tree walks ``children_left`` and
``feature`` without bounds checks, gradient boosting writes predictions into a buffer sized by
another attribute, a one-hot encoder builds a sparse matrix from indices computed from
``_n_features_outs``. One child index of 50,000,000 in a signed, clean-scanning file is a SIGSEGV
(or worse, a read or write at an address the file chose) on the first ``predict``.

:func:`check_fitted` walks the whole object the load rebuilt (pipelines, column transformers,
ensembles' ``estimators_``, nested estimators, lists, dicts, object arrays) and checks each
scikit-learn object by its kind:

- **checked kinds** (:data:`_KINDS`): the invariants scikit-learn's own fitting guarantees and its
  compiled predict paths rely on (tree node arrays, histogram-gradient-boosting predictor nodes
  and bitsets, gradient boosting's ``estimators_`` grid against its init and loss, libsvm's
  support-vector counts, dual coefficients and intercepts, one-hot encoder category counts,
  coefficient and per-feature shapes, column specs);
- **pure-NumPy kinds**: estimators whose predict and transform run NumPy and SciPy code that
  checks shapes itself (a bad shape raises a Python exception, never touches memory); they get
  the generic shape checks (``n_features_in_``, ``feature_names_in_``, per-feature arrays,
  ``coef_``/``intercept_``) only;
- **every other kind is refused**: a type the allow-list admits but whose fitted state reaches
  unchecked compiled code (KD and ball trees, k-means centres, isotonic interpolators...) and
  that this module has no check for. Fail closed: a new kind is refused until someone writes
  and tests its check.

Scipy sparse matrices anywhere in the graph get SciPy's full format check (their ``indices`` and
``indptr`` reach C++ code unchecked otherwise). Every failure is an
:class:`~mlwarden.errors.UnsafeModel` naming the object's path, e.g.
``model.estimators_[3].tree_: children_left[7] = 50000000 is outside the 15 nodes``.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import functools
import types
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from mlwarden.errors import UnsafeModel
from mlwarden.models._fitted_base import (
    Refused,
    check_column_transformer,
    check_composite,
    check_generic,
    check_pipeline,
    check_plain,
)
from mlwarden.models._fitted_estimators import (
    check_label_encoder,
    check_libsvm,
    check_one_hot_encoder,
    check_ordinal_encoder,
)
from mlwarden.models._fitted_trees import (
    check_bin_mapper,
    check_forest,
    check_gradient_boosting,
    check_hist_gradient_boosting,
    check_subspace_ensemble,
    check_tree_estimator,
)

__all__ = ["check_fitted", "checked_kinds", "is_checked"]

_MAX_DEPTH = 200


def check_fitted(model: Any, name: str) -> None:
    """:class:`UnsafeModel` unless every object in ``model`` has a structure scikit-learn can use safely."""
    try:
        _Walk().visit(model, "model", 0)
    except Refused as exc:
        raise UnsafeModel(f"{name}: {exc}; it was not loaded") from None
    except RecursionError:
        raise UnsafeModel(f"{name}: the model is nested too deeply to check; it was not loaded") from None


def is_checked(qualname: str) -> bool:
    """Whether the load accepts scikit-learn objects of the type ``module.qualname`` (after checking them)."""
    return qualname in _KINDS


def checked_kinds() -> frozenset[str]:
    """The scikit-learn types the load accepts, each with its structure check."""
    return frozenset(_KINDS)


# ------------------------------------------------------------------------------------------- the walk

_VALUE_TYPES: tuple[type, ...] = (
    str,
    bytes,
    bytearray,
    bool,
    int,
    float,
    complex,
    type(None),
    range,
    slice,
    type(Ellipsis),
    np.generic,
    np.dtype,
    np.random.RandomState,
    np.random.Generator,
    np.random.BitGenerator,
    np.random.SeedSequence,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.tzinfo,
    decimal.Decimal,
    fractions.Fraction,
    uuid.UUID,
    # References to allow-listed callables and classes (skops vetted the names); they hold no fitted state.
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    np.ufunc,
)


_NUMPY_FUNCTION = type(np.mean)
_Check = Callable[[Any, str], "list[Any] | None"]
# Parts that only make sense inside their owner, which checks them against its own state (a tree
# against its estimator's features, a predictor against its model's bin mapper): anywhere else, refused.
_OWNED = frozenset({"sklearn.tree._tree.Tree", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"})


class _Walk:
    """One walk over a model's object graph, parents before their parts."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.vouched: set[int] = set()

    def visit(self, obj: Any, path: str, depth: int) -> None:
        if isinstance(obj, (*_VALUE_TYPES, _NUMPY_FUNCTION)) or id(obj) in self.seen:
            return
        self.seen.add(id(obj))
        if depth > _MAX_DEPTH:
            raise Refused(path, f"nested more than {_MAX_DEPTH} levels deep")
        if isinstance(obj, np.ndarray):  # masked arrays too
            if obj.dtype.hasobject:
                if obj.ndim == 1:
                    for i, item in enumerate(obj):
                        self.visit(item, f"{path}[{i}]", depth + 1)
                else:
                    for index in np.ndindex(obj.shape):
                        self.visit(obj[index], f"{path}[{', '.join(map(str, index))}]", depth + 1)
            return
        if isinstance(obj, (list, tuple, set, frozenset, collections.deque)):
            for i, item in enumerate(obj):
                self.visit(item, f"{path}[{i}]", depth + 1)
            return
        if isinstance(obj, dict):
            for key, value in obj.items():
                self.visit(key, f"{path} (a key)", depth + 1)
                self.visit(value, f"{path}[{key!r}]", depth + 1)
            return
        if isinstance(obj, functools.partial):
            self.visit((obj.func, obj.args, obj.keywords), f"{path} (partial)", depth + 1)
            return
        cls = type(obj)
        qualname = f"{cls.__module__}.{cls.__qualname__}"
        if cls.__module__.startswith("scipy.sparse"):
            _check_sparse(obj, path)
            return
        check = _KINDS.get(qualname)
        if check is None:
            raise Refused(path, f"no structure check exists for {qualname}, so it cannot be loaded safely")
        if qualname in _OWNED and id(obj) not in self.vouched:
            raise Refused(path, f"a {cls.__name__} outside the estimator that uses it cannot be checked")
        if qualname in _OWNED or _has_fitted_state(obj):
            for part in check(obj, path) or ():
                self.vouched.add(id(part))
        for key, value in getattr(obj, "__dict__", {}).items():
            self.visit(value, f"{path}.{key}", depth + 1)


def _has_fitted_state(obj: Any) -> bool:
    """scikit-learn's own test (``check_is_fitted``): an object without attributes ending in ``_`` is not
    fitted, and refuses to predict; an unfitted estimator's parameters are still walked."""
    if hasattr(type(obj), "__sklearn_is_fitted__"):
        return True  # Pipeline, FunctionTransformer, FrozenEstimator: checked whatever they hold
    return any(k.endswith("_") and not k.startswith("__") for k in getattr(obj, "__dict__", {}))


def _check_sparse(matrix: Any, path: str) -> None:
    fmt = getattr(matrix, "format", None)
    if fmt not in ("csr", "csc", "coo"):
        raise Refused(path, f"a sparse matrix in {fmt} format has no structure check")
    try:
        if fmt == "coo":
            matrix.tocsr().check_format(full_check=True)
        else:
            matrix.check_format(full_check=True)
    except (ValueError, TypeError, IndexError) as exc:
        raise Refused(path, f"the sparse matrix is malformed ({exc})") from None


# ------------------------------------------------------------------------------------- the table


def _kinds() -> dict[str, _Check]:
    table: dict[str, _Check] = {}

    def add(module: str, names: str, check: _Check) -> None:
        for name in names.split():
            table[f"sklearn.{module}.{name}"] = check

    add(
        "tree._classes",
        "DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor",
        check_tree_estimator,
    )
    add("tree._tree", "Tree", check_plain)  # in _OWNED: checked by its estimator
    add(
        "ensemble._forest",
        "RandomForestClassifier RandomForestRegressor ExtraTreesClassifier ExtraTreesRegressor RandomTreesEmbedding",
        check_forest,
    )
    add("ensemble._gb", "GradientBoostingClassifier GradientBoostingRegressor", check_gradient_boosting)
    add("ensemble._bagging", "BaggingClassifier BaggingRegressor", check_subspace_ensemble)
    add("ensemble._iforest", "IsolationForest", check_subspace_ensemble)
    add("ensemble._weight_boosting", "AdaBoostClassifier AdaBoostRegressor", check_forest)
    add(
        "ensemble._hist_gradient_boosting.gradient_boosting",
        "HistGradientBoostingClassifier HistGradientBoostingRegressor",
        check_hist_gradient_boosting,
    )
    add("ensemble._hist_gradient_boosting.binning", "_BinMapper", check_bin_mapper)
    add("ensemble._hist_gradient_boosting.predictor", "TreePredictor", check_plain)  # in _OWNED: checked by its model
    add("ensemble._voting", "VotingClassifier VotingRegressor", check_composite)
    add("ensemble._stacking", "StackingClassifier StackingRegressor", check_composite)
    # Linear models: predict is a NumPy dot product; coef_ and intercept_ are still checked.
    add("linear_model._base", "LinearRegression", check_generic)
    add("linear_model._bayes", "ARDRegression BayesianRidge", check_generic)
    add(
        "linear_model._coordinate_descent",
        "ElasticNet ElasticNetCV Lasso LassoCV MultiTaskElasticNet MultiTaskElasticNetCV "
        "MultiTaskLasso MultiTaskLassoCV",
        check_generic,
    )
    add("linear_model._glm.glm", "GammaRegressor PoissonRegressor TweedieRegressor", check_generic)
    add("linear_model._huber", "HuberRegressor", check_generic)
    add("linear_model._least_angle", "Lars LarsCV LassoLars LassoLarsCV LassoLarsIC", check_generic)
    add("linear_model._logistic", "LogisticRegression LogisticRegressionCV", check_generic)
    add("linear_model._omp", "OrthogonalMatchingPursuit OrthogonalMatchingPursuitCV", check_generic)
    add("linear_model._passive_aggressive", "PassiveAggressiveClassifier PassiveAggressiveRegressor", check_generic)
    add("linear_model._perceptron", "Perceptron", check_generic)
    add("linear_model._quantile", "QuantileRegressor", check_generic)
    add("linear_model._ransac", "RANSACRegressor", check_composite)
    add("linear_model._ridge", "Ridge RidgeCV RidgeClassifier RidgeClassifierCV", check_generic)
    add("linear_model._stochastic_gradient", "SGDClassifier SGDRegressor SGDOneClassSVM", check_generic)
    add("linear_model._theil_sen", "TheilSenRegressor", check_generic)
    add("svm._classes", "LinearSVC LinearSVR", check_generic)  # liblinear runs in fit only; predict is NumPy
    add("svm._classes", "SVC NuSVC SVR NuSVR OneClassSVM", check_libsvm)
    add("discriminant_analysis", "LinearDiscriminantAnalysis QuadraticDiscriminantAnalysis", check_generic)
    add("naive_bayes", "BernoulliNB CategoricalNB ComplementNB GaussianNB MultinomialNB", check_generic)
    add("dummy", "DummyClassifier DummyRegressor", check_generic)
    add("neural_network._multilayer_perceptron", "MLPClassifier MLPRegressor", check_generic)
    add("decomposition._pca", "PCA", check_generic)
    add("decomposition._incremental_pca", "IncrementalPCA", check_generic)
    add("decomposition._truncated_svd", "TruncatedSVD", check_generic)
    # Preprocessing: NumPy arithmetic, searchsorted and indexing.
    add(
        "preprocessing._data",
        "Binarizer MaxAbsScaler MinMaxScaler Normalizer PowerTransformer QuantileTransformer "
        "RobustScaler StandardScaler",
        check_generic,
    )
    add("preprocessing._discretization", "KBinsDiscretizer", check_generic)
    add("preprocessing._encoders", "OneHotEncoder", check_one_hot_encoder)
    add("preprocessing._encoders", "OrdinalEncoder", check_ordinal_encoder)
    add("preprocessing._function_transformer", "FunctionTransformer", check_generic)
    add("preprocessing._label", "LabelEncoder LabelBinarizer", check_label_encoder)
    add("impute._base", "SimpleImputer MissingIndicator", check_generic)
    add("feature_selection._variance_threshold", "VarianceThreshold", check_generic)
    add(
        "feature_selection._univariate_selection",
        "GenericUnivariateSelect SelectFdr SelectFpr SelectFwe SelectKBest SelectPercentile",
        check_generic,
    )
    add("feature_selection._from_model", "SelectFromModel", check_composite)
    add("feature_selection._rfe", "RFE RFECV", check_composite)
    add("compose._column_transformer", "ColumnTransformer", check_column_transformer)
    add("compose._target", "TransformedTargetRegressor", check_composite)
    add("pipeline", "Pipeline", check_pipeline)
    add("pipeline", "FeatureUnion", check_composite)
    add("multiclass", "OneVsRestClassifier OneVsOneClassifier OutputCodeClassifier", check_composite)
    add("model_selection._search", "GridSearchCV RandomizedSearchCV", check_composite)
    # The calibrators are walked: a sigmoid's two numbers pass, an isotonic interpolator is refused.
    add("calibration", "CalibratedClassifierCV _CalibratedClassifier _SigmoidCalibration", check_composite)
    add("multioutput", "MultiOutputClassifier MultiOutputRegressor ClassifierChain RegressorChain", check_composite)
    add(
        "model_selection._classification_threshold",
        "FixedThresholdClassifier TunedThresholdClassifierCV",
        check_composite,
    )
    add("frozen._frozen", "FrozenEstimator", check_composite)
    # Parameters only: losses and links (used in fit, or as NumPy functions of raw predictions).
    add(
        "_loss.loss",
        "HalfBinomialLoss HalfPoissonLoss HalfSquaredError HalfTweedieLossIdentity HalfMultinomialLoss AbsoluteError "
        "ExponentialLoss HalfGammaLoss PinballLoss HuberLoss HalfTweedieLoss",
        check_plain,
    )
    add(
        "_loss._loss",
        "CyHalfBinomialLoss CyHalfPoissonLoss CyHalfSquaredError CyHalfTweedieLossIdentity CyHalfMultinomialLoss "
        "CyAbsoluteError CyExponentialLoss CyHalfGammaLoss CyPinballLoss CyHuberLoss CyHalfTweedieLoss",
        check_plain,
    )
    add("_loss.link", "IdentityLink Interval LogLink LogitLink MultinomialLogit HalfLogitLink", check_plain)
    add(
        "linear_model._sgd_fast",
        "Hinge ModifiedHuber SquaredHinge Log EpsilonInsensitive SquaredEpsilonInsensitive",
        check_plain,
    )
    add("neural_network._stochastic_optimizers", "AdamOptimizer", check_plain)
    # What searches keep of their fit: CV splitters and scorers (parameters; never called by predict).
    add(
        "model_selection._split",
        "KFold StratifiedKFold GroupKFold ShuffleSplit StratifiedShuffleSplit TimeSeriesSplit",
        check_plain,
    )
    add("metrics._scorer", "_PassthroughScorer _Scorer", check_plain)
    return table


_KINDS = _kinds()
