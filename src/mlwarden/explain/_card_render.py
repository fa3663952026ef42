"""Renders a model card (``mlwarden.model-card/v1``, a JSON-able dict) as Markdown and as one HTML page.

The JSON card is the signed record (``mlwarden model verify-card card.json`` checks it); these renderings are
what an auditor reads, and carry no signature of their own. Both say so.

Every value in a card is treated as untrusted text, since a card names datasets, columns, groups and
free-text fields that anyone upstream may have written:

* the card is first turned into one neutral document (sections of headings, key/value tables, notes and
  plots) that holds raw strings only, and the two renderers escape **every** string they write, the
  renderings' own labels included, so no path around the escaping exists: HTML through
  :func:`html.escape` (``quote=True``), Markdown through :func:`html.escape` too (Markdown viewers pass raw
  HTML through) plus a backslash before the characters that make links, images, emphasis, code or table
  cells (so ``![x](...)`` in a card cannot make a viewer fetch an image), and ``<br>`` for a newline so a
  value cannot end its table row;
* C0 control characters and Unicode bidirectional overrides are replaced by U+FFFD before escaping: an
  auditor must read what the card says, not text reordered to say something else;
* the HTML page fetches nothing: no external CSS, script, font or image, one inline ``<style>`` block, and a
  Content-Security-Policy ``<meta>`` (``default-src 'none'; style-src 'unsafe-inline'; img-src data:``) that
  makes a browser refuse anything else even if a bug let it in;
* plots are drawn with matplotlib's object API (a :class:`~matplotlib.figure.Figure` on a ``FigureCanvasAgg``,
  never pyplot or ``matplotlib.use``), with mathtext parsing off for card-supplied labels (a ``$`` in a group
  name stays a ``$``) and TeX off, under matplotlib's default style so a local ``matplotlibrc`` changes
  nothing; each is a PNG embedded as a ``data:image/png;base64,...`` URI, which the CSP's ``img-src data:``
  covers. matplotlib is imported only when a plot is drawn: the Markdown rendering draws none and says that
  the HTML has them.

A card may be partial or older: every key may be missing and every number null. A missing section is shown
as "not recorded" rather than failing; keys this module does not know, inside a known section, under
``sections`` (later audits) or at the top level, are listed generically as key/value rows with nested
objects flattened to dotted keys (lists of objects as ``key[i].field``), so nothing in the card goes unseen.

The output is deterministic for the same card (dict order is kept; the PNGs are drawn at a fixed size and dpi
with no ``Software`` metadata), although the PNG bytes may differ between matplotlib versions.

Example::

    card = json.loads(Path("card.json").read_text())
    Path("card.html").write_text(render_html(card), encoding="utf-8")
    Path("card.md").write_text(render_markdown(card), encoding="utf-8")
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlwarden.errors import BadInput

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["render_html", "render_markdown"]

SCHEMA = "mlwarden.model-card/v1"
NOT_RECORDED = "not recorded"

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_VERIFY_COMMAND = "mlwarden model verify-card card.json"
_FOOTER = (
    "The JSON card is the signed record: verify it with {command}. "
    "This page is a rendering of it and carries no signature of its own."
)

# Plots: fixed size and resolution, so the same card draws the same picture.
_DPI = 100
_TOP_IMPORTANCE = 20
_MAX_GROUPS_PLOTTED = 30
_MAX_FAIRNESS_PLOTS = 20
_LABEL_CHARS = 40
# Nested objects are flattened this deep; anything deeper is shown as compact JSON.
_MAX_DEPTH = 8

# C0 controls (but tab and newline), DEL, and the bidirectional embeddings, overrides and isolates.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_NEWLINE = re.compile(r"\r\n|\r|\n")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1a1a1a; background: #fff; }
main { max-width: 62rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: .5rem 0 1rem; width: 100%; }
th, td { border: 1px solid #ccc; padding: .3rem .5rem; text-align: left; vertical-align: top;
         white-space: pre-wrap; overflow-wrap: anywhere; font-size: .9rem; }
th { background: #f2f2f2; }
td.flag { color: #b00020; font-weight: bold; }
p.missing { color: #666; font-style: italic; }
p.flag { color: #b00020; font-weight: bold; }
section.summary { border: 2px solid #444; border-radius: .4rem; padding: 0 1rem .5rem; background: #fafafa; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85rem; color: #444; }
footer { margin-top: 2.5rem; border-top: 1px solid #ccc; padding-top: .8rem; font-size: .85rem; color: #444; }
"""


# --- the neutral document: raw strings only, escaped by the renderers -------------------------------------


@dataclasses.dataclass(frozen=True)
class _Cell:
    """One table cell; ``alert`` marks something an auditor must not miss (shown in red or bold)."""

    text: str
    alert: bool = False


@dataclasses.dataclass(frozen=True)
class _Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[_Cell, ...], ...]


@dataclasses.dataclass(frozen=True)
class _Heading:
    text: str


@dataclasses.dataclass(frozen=True)
class _Note:
    """A sentence on its own: "not recorded", or a warning when ``alert``."""

    text: str
    alert: bool = False


@dataclasses.dataclass(frozen=True)
class _Plot:
    """A plot drawn only by the HTML renderer: ``draw`` returns PNG bytes, or None when there is nothing to draw."""

    title: str
    draw: Callable[[], bytes | None]


_Block = _Table | _Heading | _Note | _Plot


@dataclasses.dataclass(frozen=True)
class _Section:
    title: str
    blocks: tuple[_Block, ...]
    summary: bool = False


@dataclasses.dataclass(frozen=True)
class _Document:
    title: str
    sections: tuple[_Section, ...]


# --- values -----------------------------------------------------------------------------------------------


def _mapping(value: Any) -> Mapping[str, Any]:
    """The value if it is an object, else an empty one (a missing or malformed section)."""
    return value if isinstance(value, Mapping) else {}


def _objects(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list of objects (bins, groups, columns); anything else in the list is left out."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _number(value: Any) -> float | None:
    """A finite number, or None for null, text, booleans, NaN and infinities (which a plot cannot place)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _fmt(value: Any) -> str:
    """One value as text; null is "not recorded"."""
    if value is None:
        return NOT_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # The shortest text that reads back as the same float, unless that is long (0.30000000000000004).
        exact = repr(value)
        return exact if len(exact) <= 12 else format(value, ".6g")
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        if not value:
            return "(empty)"
        if any(isinstance(item, Mapping | list | tuple) for item in value):
            return _json(value)
        return ", ".join(_fmt(item) for item in value)
    if isinstance(value, Mapping):
        return _json(value) if value else "(empty)"
    return str(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def _flatten(value: Any, prefix: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(dotted key, leaf value) pairs: objects become ``a.b``, lists holding objects ``a[i].b``."""
    if depth < _MAX_DEPTH and isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key), depth + 1)
    elif depth < _MAX_DEPTH and isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]", depth + 1)
    else:
        yield prefix, value


def _interval(metric: Any, level: Any) -> str:
    """``0.912 (95% interval 0.900 to 0.930)`` from ``{"value", "low", "high"}``, or a bare value."""
    if not isinstance(metric, Mapping):
        return _fmt(metric)
    value, low, high = (_number(metric.get(key)) for key in ("value", "low", "high"))
    if value is None:
        return NOT_RECORDED
    text = f"{value:.3f}"
    if low is not None and high is not None:
        share = _number(level)
        name = f"{share * 100:g}% interval" if share is not None else "interval"
        text += f" ({name} {low:.3f} to {high:.3f})"
    return text


# --- tables -----------------------------------------------------------------------------------------------

_Alerts = Mapping[str, Callable[[Any], bool]]


def _is_false(value: Any) -> bool:
    return value is False


def _is_true(value: Any) -> bool:
    return value is True


def _kv_table(
    section: Mapping[str, Any],
    known: Sequence[str],
    *,
    skip: Sequence[str] = (),
    alerts: _Alerts | None = None,
) -> _Table:
    """Rows for the ``known`` keys in order (missing ones "not recorded"), then every other key but ``skip``.

    Nested values are flattened to dotted keys; ``alerts`` maps a dotted key to a test of its value that
    marks the cell.
    """
    alerts = alerts or {}
    rows: list[tuple[_Cell, ...]] = []
    rest = [key for key in section if key not in known and key not in skip]
    for key in [*known, *rest]:
        for path, value in _flatten(section.get(key), str(key)):
            flagged = path in alerts and alerts[path](value)
            rows.append((_Cell(path), _Cell(_fmt(value), alert=flagged)))
    return _Table(("Field", "Value"), tuple(rows))


def _list_table(items: list[Mapping[str, Any]], columns: Sequence[str]) -> _Table:
    """One row per object, one column per key (missing ones "not recorded")."""
    rows = tuple(tuple(_Cell(_fmt(item.get(column))) for column in columns) for item in items)
    return _Table(tuple(columns), rows)


def _missing(title: str, value: Any) -> _Section:
    """A section the card lacks, or has in a shape this renderer cannot read (said, not hidden)."""
    if value is None or (isinstance(value, Mapping) and not value):
        return _Section(title, (_Note(NOT_RECORDED),))
    return _Section(title, (_Note(f"{NOT_RECORDED} (unexpected value: {_fmt(value)})", alert=True),))


# --- sections ---------------------------------------------------------------------------------------------

_MODEL = ("name", "version", "ref", "sha256", "format", "stage", "created_at", "created_by", "signing_key")
_INTENDED_USE = ("purpose", "users", "out_of_scope", "limitations")
_DATA = (
    "dataset",
    "version",
    "sha256",
    "rows",
    "format",
    "target",
    "train_rows",
    "test_rows",
    "unlabelled_rows_dropped",
)
_SCHEMA_COLUMNS = ("name", "type", "nullable", "min", "max", "categories")
_TRAINING = ("estimator", "seed", "test_size", "trained_by", "trained_at")
_PERFORMANCE = ("classes", "positive_class", "interval")
_CALIBRATION = ("expected_calibration_error", "brier")
_BIN_COLUMNS = ("low", "high", "count", "mean_predicted", "observed")
_EXPLANATIONS = ("method", "units", "adverse_class", "base", "background", "reason_map_sha256", "not_reasons")
_FAIRNESS = ("favourable", "rows")
_FAIRNESS_COLUMN = (
    "binned",
    "edges",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "four_fifths_flag",
    "small_groups",
)
_GROUP_COLUMNS = ("group", "count", "selection_rate", "tpr", "fpr")
_CARD = ("schema", "generated_at", "generated_by")
_TOP_LEVEL = (
    "model",
    "intended_use",
    "data",
    "training",
    "performance",
    "explanations",
    "fairness",
    "data_audit",
    "evidence",
    "sections",
    *_CARD,
)


def _summary(card: Mapping[str, Any]) -> _Section:
    model = _mapping(card.get("model"))
    data = _mapping(card.get("data"))
    performance = _mapping(card.get("performance"))
    rows: list[tuple[_Cell, ...]] = [
        (_Cell("Model digest"), _Cell(_fmt(model.get("sha256")))),
        (_Cell("Dataset"), _Cell(_dataset_ref(data))),
        (_Cell("Dataset digest"), _Cell(_fmt(data.get("sha256")))),
        (_Cell("Estimator"), _Cell(_fmt(_mapping(card.get("training")).get("estimator")))),
    ]
    metrics = _mapping(performance.get("metrics"))
    level = _mapping(performance.get("interval")).get("level")
    for name, metric in metrics.items():
        rows.append((_Cell(f"Metric: {name}"), _Cell(_interval(metric, level))))
    if not metrics:
        rows.append((_Cell("Metrics"), _Cell(NOT_RECORDED)))
    rows.extend(_fairness_summary(card.get("fairness")))
    decision = _mapping(card.get("data_audit")).get("decision")
    rows.append((_Cell("Data audit decision"), _Cell(_fmt(decision))))
    evidence = _mapping(card.get("evidence"))
    scan = _mapping(evidence.get("scan"))
    if "clean" in scan:
        clean = scan.get("clean") is True
        rows.append((_Cell("Model file scan"), _Cell("clean" if clean else "findings", alert=not clean)))
    signature = _mapping(evidence.get("signature"))
    if "verified" in signature:
        verified = signature.get("verified") is True
        text = f"verified (key {_fmt(signature.get('key_id'))})" if verified else "NOT verified"
        rows.append((_Cell("Model signature"), _Cell(text, alert=not verified)))
    return _Section("Summary", (_Table(("Item", "Value"), tuple(rows)),), summary=True)


def _dataset_ref(data: Mapping[str, Any]) -> str:
    """``dataset@version``; "not recorded" without a dataset name."""
    if data.get("dataset") is None:
        return NOT_RECORDED
    return f"{_fmt(data.get('dataset'))}@{_fmt(data.get('version'))}"


def _fairness_summary(fairness: Any) -> list[tuple[_Cell, ...]]:
    columns = _objects(_mapping(fairness).get("columns"))
    if not columns:
        return [(_Cell("Fairness"), _Cell(NOT_RECORDED))]
    rows: list[tuple[_Cell, ...]] = []
    for column in columns:
        if column.get("four_fifths_flag") is True:
            ratio = _number(column.get("demographic_parity_ratio"))
            detail = f" (selection-rate ratio {ratio:.3f})" if ratio is not None else ""
            text = f"four-fifths rule flagged{detail}"
            rows.append((_Cell(f"Fairness: {_fmt(column.get('column'))}"), _Cell(text, alert=True)))
    if not rows:
        rows.append((_Cell("Fairness"), _Cell(f"no four-fifths flag on {len(columns)} protected column(s)")))
    return rows


def _model(card: Mapping[str, Any]) -> _Section:
    model = _mapping(card.get("model"))
    if not model:
        return _missing("Model", card.get("model"))
    return _Section("Model", (_kv_table(model, _MODEL),))


def _intended_use(card: Mapping[str, Any]) -> _Section:
    use = _mapping(card.get("intended_use"))
    if not use:
        return _missing("Intended use", card.get("intended_use"))
    return _Section("Intended use", (_kv_table(use, _INTENDED_USE),))


def _data(card: Mapping[str, Any]) -> _Section:
    data = _mapping(card.get("data"))
    if not data:
        return _missing("Data", card.get("data"))
    schema = _objects(data.get("schema"))
    blocks: list[_Block] = [_kv_table(data, _DATA, skip=("schema",)), _Heading("Schema")]
    blocks.append(_list_table(schema, _SCHEMA_COLUMNS) if schema else _Note(NOT_RECORDED))
    return _Section("Data", tuple(blocks))


def _training(card: Mapping[str, Any]) -> _Section:
    training = _mapping(card.get("training"))
    if not training:
        return _missing("Training", card.get("training"))
    blocks: list[_Block] = [_kv_table(training, _TRAINING, skip=("parameters", "libraries"))]
    for key, title, header in (("parameters", "Parameters", "Parameter"), ("libraries", "Libraries", "Library")):
        blocks.append(_Heading(title))
        values = _mapping(training.get(key))
        if values:
            rows = tuple((_Cell(path), _Cell(_fmt(value))) for path, value in _flatten(values, ""))
            blocks.append(_Table((header, "Value" if key == "parameters" else "Version"), rows))
        else:
            blocks.append(_Note(NOT_RECORDED))
    return _Section("Training", tuple(blocks))


def _performance(card: Mapping[str, Any]) -> _Section:
    performance = _mapping(card.get("performance"))
    if not performance:
        return _missing("Performance", card.get("performance"))
    blocks: list[_Block] = [_kv_table(performance, _PERFORMANCE, skip=("metrics", "calibration")), _Heading("Metrics")]
    metrics = _mapping(performance.get("metrics"))
    if metrics:
        rows = []
        for name, metric in metrics.items():
            parts = metric if isinstance(metric, Mapping) else {"value": metric}
            rows.append((_Cell(str(name)), *(_Cell(_fmt(parts.get(key))) for key in ("value", "low", "high"))))
        blocks.append(_Table(("Metric", "Value", "Low", "High"), tuple(rows)))
    else:
        blocks.append(_Note(NOT_RECORDED))
    blocks.append(_Heading("Calibration"))
    calibration = _mapping(performance.get("calibration"))
    if calibration:
        bins = _objects(calibration.get("bins"))
        blocks.append(_kv_table(calibration, _CALIBRATION, skip=("bins",)))
        blocks.append(_list_table(bins, _BIN_COLUMNS) if bins else _Note(f"bins {NOT_RECORDED}"))
        blocks.append(
            _Plot(
                "Reliability diagram: observed frequency against mean predicted probability, per bin",
                lambda: _calibration_png(bins),
            )
        )
    else:
        blocks.append(_Note(NOT_RECORDED))
    return _Section("Performance", tuple(blocks))


def _explanations(card: Mapping[str, Any]) -> _Section:
    explanations = _mapping(card.get("explanations"))
    if not explanations:
        return _missing("Explanations", card.get("explanations"))
    importance = _objects(explanations.get("importance"))
    blocks: list[_Block] = [_kv_table(explanations, _EXPLANATIONS, skip=("importance",)), _Heading("Global importance")]
    if importance:
        blocks.append(_list_table(importance, ("column", "mean_abs")))
        blocks.append(
            _Plot(
                f"Global importance: mean |contribution| per column (top {_TOP_IMPORTANCE})",
                lambda: _importance_png(importance),
            )
        )
    else:
        blocks.append(_Note(NOT_RECORDED))
    return _Section("Explanations", tuple(blocks))


def _fairness(card: Mapping[str, Any]) -> _Section:
    fairness = _mapping(card.get("fairness"))
    if not fairness:
        return _missing("Fairness", card.get("fairness"))
    blocks: list[_Block] = [_kv_table(fairness, _FAIRNESS, skip=("columns",))]
    columns = _objects(fairness.get("columns"))
    if not columns:
        blocks.append(_Note(f"protected columns {NOT_RECORDED}"))
    for index, column in enumerate(columns):
        name = _fmt(column.get("column"))
        groups = _objects(column.get("groups"))
        blocks.append(_Heading(f"Protected column: {name}"))
        if column.get("four_fifths_flag") is True:
            blocks.append(_Note("The four-fifths rule is flagged on this column.", alert=True))
        alerts = {"four_fifths_flag": _is_true}
        blocks.append(_kv_table(column, _FAIRNESS_COLUMN, skip=("column", "groups"), alerts=alerts))
        blocks.append(_list_table(groups, _GROUP_COLUMNS) if groups else _Note(f"groups {NOT_RECORDED}"))
        if groups and index < _MAX_FAIRNESS_PLOTS:
            blocks.append(
                _Plot(
                    f"Selection rate per group of {name}, with the four-fifths threshold (0.8 x max)",
                    _bind_fairness(name, groups),
                )
            )
    if len(columns) > _MAX_FAIRNESS_PLOTS:
        blocks.append(_Note(f"Plots are drawn for the first {_MAX_FAIRNESS_PLOTS} protected columns only."))
    return _Section("Fairness", tuple(blocks))


def _bind_fairness(name: str, groups: list[Mapping[str, Any]]) -> Callable[[], bytes | None]:
    """A plot thunk bound to this column (a lambda in the loop would see the last column)."""
    return lambda: _fairness_png(name, groups)


def _data_audit(card: Mapping[str, Any]) -> _Section:
    audit = _mapping(card.get("data_audit"))
    if not audit:
        return _missing("Data audit", card.get("data_audit"))
    return _Section("Data audit", (_kv_table(audit, ("decision",)),))


def _evidence(card: Mapping[str, Any]) -> _Section:
    evidence = _mapping(card.get("evidence"))
    if not evidence:
        return _missing("Evidence", card.get("evidence"))
    alerts = {"scan.clean": _is_false, "signature.verified": _is_false}
    return _Section("Evidence", (_kv_table(evidence, ("scan", "signature"), alerts=alerts),))


def _later_sections(card: Mapping[str, Any]) -> _Section:
    sections = _mapping(card.get("sections"))
    if not sections:
        return _missing("Further audits", card.get("sections"))
    blocks: list[_Block] = []
    for key, value in sections.items():
        blocks.append(_Heading(str(key)))
        if isinstance(value, Mapping) and value:
            blocks.append(_kv_table(value, ()))
        elif value is None or isinstance(value, Mapping):
            blocks.append(_Note(NOT_RECORDED))
        else:
            blocks.append(_kv_table({"value": value}, ("value",)))
    return _Section("Further audits", tuple(blocks))


def _card_meta(card: Mapping[str, Any]) -> _Section:
    schema = card.get("schema")
    blocks: list[_Block] = []
    if schema != SCHEMA:
        blocks.append(
            _Note(f"Unknown card schema {_fmt(schema)}: rendered best-effort (expected {SCHEMA}).", alert=True)
        )
    extra = {key: value for key, value in card.items() if key not in _TOP_LEVEL}
    meta = {key: card.get(key) for key in _CARD} | extra
    blocks.append(_kv_table(meta, _CARD, alerts={"schema": lambda value: value != SCHEMA}))
    return _Section("Card", tuple(blocks))


def _document(card: Any) -> _Document:
    if not isinstance(card, Mapping):
        raise BadInput("a model card must be a JSON object")
    model = _mapping(card.get("model"))
    name = model.get("name")
    version = model.get("version")
    title = f"Model card: {_fmt(name) if name is not None else '(unnamed)'}@"
    title += _fmt(version) if version is not None else "(unversioned)"
    builders = (
        _summary,
        _model,
        _intended_use,
        _data,
        _training,
        _performance,
        _explanations,
        _fairness,
        _data_audit,
        _evidence,
        _later_sections,
        _card_meta,
    )
    return _Document(title, tuple(build(card) for build in builders))


# --- plots ------------------------------------------------------------------------------------------------


def _label(value: Any) -> str:
    """A card value as a short plot label (the tables hold it in full)."""
    text = _UNSAFE_CHARS.sub("\ufffd", _fmt(value))
    text = _NEWLINE.sub(" ", text)
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "\u2026"


def _draw(width: float, height: float, paint: Callable[[Axes], None]) -> bytes:
    """A PNG of one axes painted by ``paint``: object API only, default style, TeX off, fixed dpi, no metadata."""
    import matplotlib.style
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"), rc_context({"text.usetex": False}):
        figure: Figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        paint(figure.add_subplot())
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def _calibration_png(bins: list[Mapping[str, Any]]) -> bytes | None:
    points = [(_number(item.get("mean_predicted")), _number(item.get("observed"))) for item in bins]
    xs = [x for x, y in points if x is not None and y is not None]
    ys = [y for x, y in points if x is not None and y is not None]
    if not xs:
        return None
    low = min(0.0, *xs, *ys)
    high = max(1.0, *xs, *ys)

    def paint(axes: Axes) -> None:
        axes.plot([low, high], [low, high], linestyle="--", color="grey", label="perfectly calibrated")
        axes.plot(xs, ys, marker="o", color="tab:blue", label="observed")
        axes.set_xlim(low, high)
        axes.set_ylim(low, high)
        axes.set_xlabel("mean predicted probability")
        axes.set_ylabel("observed frequency")
        axes.set_title("Calibration (reliability diagram)")
        axes.legend(loc="upper left")

    return _draw(5, 5, paint)


def _importance_png(importance: list[Mapping[str, Any]]) -> bytes | None:
    scored = [(_label(item.get("column")), _number(item.get("mean_abs"))) for item in importance]
    ranked = sorted(((name, value) for name, value in scored if value is not None), key=lambda t: (-t[1], t[0]))
    top = ranked[:_TOP_IMPORTANCE]
    if not top:
        return None

    def paint(axes: Axes) -> None:
        positions = list(range(len(top)))
        axes.barh(positions, [value for _, value in top], color="tab:blue")
        axes.set_yticks(positions, labels=[name for name, _ in top], parse_math=False)
        axes.invert_yaxis()
        axes.set_xlabel("mean |contribution|")
        axes.set_title(f"Global importance (top {len(top)})")

    return _draw(7, 1.2 + 0.32 * len(top), paint)


def _fairness_png(column: str, groups: list[Mapping[str, Any]]) -> bytes | None:
    rates = [(_label(item.get("group")), _number(item.get("selection_rate"))) for item in groups]
    shown = [(name, rate) for name, rate in rates if rate is not None][:_MAX_GROUPS_PLOTTED]
    if not shown:
        return None
    threshold = 0.8 * max(rate for _, rate in shown)
    top = max(1.05, *(rate * 1.05 for _, rate in shown))

    def paint(axes: Axes) -> None:
        positions = list(range(len(shown)))
        axes.bar(positions, [rate for _, rate in shown], color="tab:blue", label="selection rate")
        axes.axhline(threshold, color="tab:red", linestyle="--", label=f"four-fifths threshold ({threshold:.3f})")
        axes.set_xticks(positions, labels=[name for name, _ in shown], rotation=30, ha="right", parse_math=False)
        axes.set_ylim(min(0.0, *(rate for _, rate in shown)), top)
        axes.set_ylabel("selection rate")
        axes.set_title(f"Selection rate by group: {_label(column)}", parse_math=False)
        # Beside the axes, so it never hides a bar near 1.
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))

    return _draw(8, 4, paint)


# --- HTML -------------------------------------------------------------------------------------------------


def _h(text: str) -> str:
    """Text made safe for HTML content and attribute values."""
    return html.escape(_UNSAFE_CHARS.sub("\ufffd", text), quote=True)


def _html_cell(cell: _Cell) -> str:
    opening = '<td class="flag">' if cell.alert else "<td>"
    return f"{opening}{_h(cell.text)}</td>"


def _html_block(block: _Block) -> str:
    if isinstance(block, _Heading):
        return f"<h3>{_h(block.text)}</h3>"
    if isinstance(block, _Note):
        return f'<p class="{"flag" if block.alert else "missing"}">{_h(block.text)}</p>'
    if isinstance(block, _Plot):
        png = block.draw()
        if png is None:
            return f'<p class="missing">{_h(f"{block.title}: no data to plot")}</p>'
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        return f'<figure><img src="{uri}" alt="{_h(block.title)}"><figcaption>{_h(block.title)}</figcaption></figure>'
    if not block.rows:
        return f'<p class="missing">{_h("none")}</p>'
    head = "".join(f"<th>{_h(header)}</th>" for header in block.headers)
    body = "".join("<tr>" + "".join(_html_cell(cell) for cell in row) + "</tr>" for row in block.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(card: Mapping[str, Any]) -> str:
    """The card as one self-contained HTML page: a summary box, one table per section, and its plots.

    The page loads nothing from anywhere (CSP ``default-src 'none'``; plots are ``data:`` PNGs) and escapes
    every value of the card. Raises :class:`~mlwarden.errors.BadInput` when ``card`` is not a JSON object.
    """
    document = _document(card)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # The one unescaped string: a constant, written as browsers and reviewers expect to read it.
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(document.title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_h(document.title)}</h1>",
    ]
    for section in document.sections:
        parts.append('<section class="summary">' if section.summary else "<section>")
        parts.append(f"<h2>{_h(section.title)}</h2>")
        parts.extend(_html_block(block) for block in section.blocks)
        parts.append("</section>")
    footer = _h(_FOOTER).replace(_h("{command}"), f"<code>{_h(_VERIFY_COMMAND)}</code>")
    parts += [f"<footer><p>{footer}</p></footer>", "</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


# --- Markdown ---------------------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Text made inert for Markdown: HTML-escaped, link/emphasis/code/cell characters backslashed, newlines <br>."""
    # Backslashes first: html.escape adds none, and the entities it writes hold no Markdown specials.
    escaped = _h(_MD_SPECIAL.sub(r"\\\1", text))
    return _NEWLINE.sub("<br>", escaped)


def _md_block(block: _Block) -> str:
    if isinstance(block, _Heading):
        return f"### {_md(block.text)}"
    if isinstance(block, _Note):
        return f"**{_md(block.text)}**" if block.alert else f"_{_md(block.text)}_"
    if isinstance(block, _Plot):
        return f"_{_md(f'Plot in the HTML rendering: {block.title}.')}_"
    if not block.rows:
        return f"_{_md('none')}_"
    lines = ["| " + " | ".join(_md(header) for header in block.headers) + " |"]
    lines.append("|" + " --- |" * len(block.headers))
    for row in block.rows:
        cells = (f"**{_md(cell.text)}**" if cell.alert else _md(cell.text) for cell in row)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(card: Mapping[str, Any]) -> str:
    """The card as Markdown: the same sections and tables as the HTML page, without its plots (it says so).

    Every value is escaped so a viewer shows it as text (no HTML, links, images or broken table rows).
    Raises :class:`~mlwarden.errors.BadInput` when ``card`` is not a JSON object.
    """
    document = _document(card)
    footer = _md(_FOOTER).replace(_md("{command}"), f"`{_VERIFY_COMMAND}`")
    parts = [f"# {_md(document.title)}", f"> {footer} {_md('The plots are in the HTML rendering.')}"]
    for section in document.sections:
        parts.append(f"## {_md(section.title)}")
        parts.extend(_md_block(block) for block in section.blocks)
    parts.append("---")
    parts.append(footer)
    return "\n\n".join(parts) + "\n"
