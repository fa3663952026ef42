"""The model card's Markdown and HTML renderings: content, escaping of hostile text, no fetches, determinism.

The PNG bytes depend on the matplotlib version, so no test compares them: the images are checked for being
``data:`` PNG URIs that decode to a PNG, and the pages are compared with the image data taken out.
"""

from __future__ import annotations

import base64
import copy
import html.parser
import re
import sys
from typing import Any

import pytest

from mlwarden.errors import BadInput
from mlwarden.explain._card_render import render_html, render_markdown

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
HOSTILE = "<script>alert(1)</script> | pipe \"quoted\" 'single'\nsecond line ![t](x.png) $x^2$"
DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
DIGEST = "ab" * 32


def full_card() -> dict[str, Any]:
    return {
        "schema": "mlwarden.model-card/v1",
        "model": {
            "name": "credit-risk",
            "version": "3",
            "ref": "credit-risk@3",
            "sha256": DIGEST,
            "format": "skops",
            "stage": "production",
            "created_at": "2026-01-02T03:04:05Z",
            "created_by": "alice",
            "signing_key": "key-7f3a",
        },
        "intended_use": {
            "purpose": "Score consumer credit applications",
            "users": "credit officers",
            "out_of_scope": "employment decisions",
            "limitations": None,
        },
        "data": {
            "dataset": "applicants",
            "version": "12",
            "sha256": "cd" * 32,
            "rows": 1000,
            "format": "csv",
            "target": "default",
            "train_rows": 800,
            "test_rows": 200,
            "unlabelled_rows_dropped": 0,
            "schema": [
                {"name": "income", "type": "numeric", "nullable": False, "min": 1200.5, "max": 250000},
                {"name": "sex", "type": "categorical", "nullable": False, "categories": ["f", "m"]},
            ],
        },
        "training": {
            "estimator": "LogisticRegression",
            "seed": 7,
            "test_size": 0.2,
            "trained_by": "alice",
            "trained_at": "2026-01-02T03:00:00Z",
            "parameters": {"C": 1.0, "solver": {"name": "lbfgs", "max_iter": 100}},
            "libraries": {"scikit-learn": "1.5.2", "numpy": "2.1.0"},
        },
        "performance": {
            "classes": ["good", "bad"],
            "positive_class": "bad",
            "metrics": {
                "accuracy": {"value": 0.9123, "low": 0.8841, "high": 0.9377},
                "roc_auc": {"value": 0.871, "low": 0.83, "high": 0.905},
            },
            "interval": {"method": "bootstrap", "rounds": 1000, "level": 0.95, "seed": 0},
            "calibration": {
                "bins": [
                    {"low": 0.0, "high": 0.5, "count": 120, "mean_predicted": 0.2, "observed": 0.18},
                    {"low": 0.5, "high": 1.0, "count": 80, "mean_predicted": 0.75, "observed": 0.7},
                ],
                "expected_calibration_error": 0.031,
                "brier": 0.114,
            },
        },
        "explanations": {
            "method": "interventional-shap",
            "units": "log-odds",
            "adverse_class": "bad",
            "base": -1.25,
            "background": {"rule": "training-sample", "rows": 100, "sha256": "ef" * 32},
            "importance": [{"column": "income", "mean_abs": 0.8}, {"column": "age", "mean_abs": 0.3}],
            "reason_map_sha256": "01" * 32,
            "not_reasons": ["sex"],
        },
        "fairness": {
            "favourable": "good",
            "rows": 200,
            "columns": [
                {
                    "column": "sex",
                    "binned": False,
                    "edges": None,
                    "groups": [
                        {"group": "f", "count": 90, "selection_rate": 0.5, "tpr": 0.8, "fpr": 0.1},
                        {"group": "m", "count": 110, "selection_rate": 0.7, "tpr": 0.85, "fpr": 0.12},
                    ],
                    "demographic_parity_difference": 0.2,
                    "demographic_parity_ratio": 0.714,
                    "equalized_odds_difference": 0.05,
                    "four_fifths_flag": True,
                    "small_groups": [],
                },
                {
                    "column": "age",
                    "binned": True,
                    "edges": [30, 50],
                    "groups": [
                        {"group": "<30", "count": 50, "selection_rate": 0.6, "tpr": 0.8, "fpr": 0.1},
                        {"group": "30-50", "count": 100, "selection_rate": 0.62, "tpr": 0.8, "fpr": 0.1},
                        {"group": ">=50", "count": 50, "selection_rate": 0.58, "tpr": 0.8, "fpr": 0.1},
                    ],
                    "demographic_parity_difference": 0.04,
                    "demographic_parity_ratio": 0.935,
                    "equalized_odds_difference": 0.0,
                    "four_fifths_flag": False,
                    "small_groups": [],
                },
            ],
        },
        "data_audit": {
            "findings": [{"check": "label-noise", "rows": 3}],
            "flagged": 3,
            "decision": "accepted-by-bob",
            "report_sha256": "23" * 32,
        },
        "evidence": {
            "scan": {"format": "skops", "clean": True, "findings": []},
            "signature": {"key_id": "key-7f3a", "verified": True, "statement_digest": "45" * 32},
        },
        "sections": {"membership_inference": {"attack": {"auc": 0.51, "rounds": 3}, "verdict": "pass"}},
        "generated_at": "2026-01-02T03:05:00Z",
        "generated_by": "mlwarden 0.1.0",
    }


def minimal_card() -> dict[str, Any]:
    return {"schema": "mlwarden.model-card/v1", "model": {"name": "tiny", "version": "1"}}


def hostile_card() -> dict[str, Any]:
    """A hostile string in every kind of place a card puts text: title, cells, headings, keys, plot labels."""
    card = full_card()
    card["model"]["name"] = HOSTILE
    card["intended_use"]["purpose"] = HOSTILE
    card["explanations"]["importance"][0]["column"] = HOSTILE
    card["fairness"]["columns"][0]["column"] = HOSTILE
    card["fairness"]["columns"][0]["groups"][0]["group"] = HOSTILE
    card["data_audit"]["decision"] = HOSTILE
    card["sections"][HOSTILE] = {HOSTILE: {HOSTILE: HOSTILE}}
    card[HOSTILE] = HOSTILE
    return card


@pytest.fixture(scope="module")
def full_html() -> str:
    return render_html(full_card())


@pytest.fixture(scope="module")
def full_md() -> str:
    return render_markdown(full_card())


@pytest.fixture(scope="module")
def hostile_outputs() -> dict[str, str]:
    """Each rendering of the hostile card, drawn once (plots are the slow part)."""
    card = hostile_card()
    return {"html": render_html(card), "markdown": render_markdown(card)}


class _Tags(html.parser.HTMLParser):
    """Every start tag with its attributes, as the browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.tags


def without_images(page: str) -> str:
    return DATA_URI.sub("data:image/png;base64,<image>", page)


# --- content ----------------------------------------------------------------------------------------------


def test_html_has_title_summary_sections_and_values(full_html: str) -> None:
    assert "<title>Model card: credit-risk@3</title>" in full_html
    assert "<h1>Model card: credit-risk@3</h1>" in full_html
    assert '<section class="summary">' in full_html
    order = ["Summary", "Model", "Intended use", "Data", "Training", "Performance", "Explanations", "Fairness"]
    order += ["Data audit", "Evidence", "Further audits", "Card"]
    positions = [full_html.index(f"<h2>{title}</h2>") for title in order]
    assert positions == sorted(positions)
    for value in [DIGEST, "applicants@12", "LogisticRegression", "0.912 (95% interval 0.884 to 0.938)", "lbfgs"]:
        assert value in full_html
    assert "accepted-by-bob" in full_html
    assert "solver.max_iter" in full_html  # nested parameters flattened
    assert "findings[0].check" in full_html  # a list of objects in the data audit flattened
    assert "mlwarden model verify-card card.json" in full_html


def test_html_shows_fairness_flag_in_red(full_html: str) -> None:
    assert '<td class="flag">four-fifths rule flagged (selection-rate ratio 0.714)</td>' in full_html
    assert "<td>Fairness: sex</td>" in full_html
    assert "Fairness: age" not in full_html  # not flagged, so not in the summary
    assert re.search(r"<td>four_fifths_flag</td><td class=\"flag\">yes</td>", full_html)


def test_markdown_has_headings_values_and_no_images(full_md: str) -> None:
    assert full_md.startswith("# Model card: credit-risk@3\n")
    for heading in ["## Summary", "## Model", "## Performance", "### Calibration", "### Protected column: sex"]:
        assert f"\n{heading}\n" in full_md
    assert DIGEST in full_md
    assert "| accuracy | 0.9123 | 0.8841 | 0.9377 |" in full_md
    assert "| Fairness: sex | **four-fifths rule flagged (selection-rate ratio 0.714)** |" in full_md
    assert "| roc\\_auc | 0.871 | 0.83 | 0.905 |" in full_md  # an underscore would start emphasis
    assert "| C | 1.0 |" in full_md
    assert "data:image" not in full_md
    assert "<img" not in full_md
    assert "Plot in the HTML rendering" in full_md
    assert "`mlwarden model verify-card card.json`" in full_md


def test_unknown_sections_are_listed_with_dotted_keys(full_html: str, full_md: str) -> None:
    assert "<h3>membership\\_inference</h3>" not in full_html  # Markdown escaping stays out of HTML
    assert "<h3>membership_inference</h3>" in full_html
    assert "<td>attack.auc</td><td>0.51</td>" in full_html
    assert "| attack.auc | 0.51 |" in full_md


def test_unknown_top_level_keys_and_schema_are_shown() -> None:
    card = minimal_card()
    card["schema"] = "mlwarden.model-card/v9"
    card["extra_field"] = {"nested": 1}
    page = render_html(card)
    assert "<td>extra_field.nested</td><td>1</td>" in page
    assert '<td class="flag">mlwarden.model-card/v9</td>' in page


# --- images -----------------------------------------------------------------------------------------------


def test_images_are_png_data_uris(full_html: str) -> None:
    images = [attrs for tag, attrs in tags(full_html) if tag == "img"]
    assert len(images) == 4  # calibration, importance, one per protected column
    for attrs in images:
        src = attrs["src"]
        assert src is not None
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True).startswith(PNG_MAGIC)
        assert attrs["alt"]


def test_rendering_leaves_matplotlib_global_state_alone() -> None:
    matplotlib = pytest.importorskip("matplotlib")

    def settings() -> dict[str, Any]:
        # Reading "backend" would itself make matplotlib resolve one (by importing pyplot).
        return {key: matplotlib.rcParams[key] for key in matplotlib.rcParams if key != "backend"}

    pyplot_before = "matplotlib.pyplot" in sys.modules
    before = settings()
    render_html({"performance": full_card()["performance"]})  # one plot is enough
    assert settings() == before
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_before


def test_nothing_to_plot_draws_nothing() -> None:
    card = full_card()
    for item in card["performance"]["calibration"]["bins"]:
        item["observed"] = None
    for item in card["explanations"]["importance"]:
        item["mean_abs"] = None
    for column in card["fairness"]["columns"]:
        for group in column["groups"]:
            group["selection_rate"] = None
    page = render_html(card)
    assert "<img" not in page
    assert page.count("no data to plot") == 4


# --- safety -----------------------------------------------------------------------------------------------


def test_html_loads_nothing_from_anywhere(full_html: str) -> None:
    parsed = tags(full_html)
    assert {tag for tag, _ in parsed}.isdisjoint({"script", "link", "iframe", "object", "embed", "base", "form"})
    for tag, attrs in parsed:
        for name, value in attrs.items():
            assert not name.startswith("on")
            if name in {"src", "href", "srcset", "action", "poster", "data"}:
                assert value is not None
                assert value.startswith("data:image/png;base64,"), (tag, name)
    assert "http://" not in full_html
    assert "https://" not in full_html
    assert "url(" not in full_html
    assert "@import" not in full_html


def test_csp_meta_comes_first_in_head(full_html: str) -> None:
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in full_html
    meta = [attrs for tag, attrs in tags(full_html) if tag == "meta" and "http-equiv" in attrs]
    assert meta == [{"http-equiv": "Content-Security-Policy", "content": CSP}]
    head = full_html[: full_html.index("</head>")]
    assert head.index("Content-Security-Policy") < head.index("<style>") < head.index("</style>")
    assert head.count("<style>") == 1


@pytest.mark.parametrize("kind", ["html", "markdown"])
def test_hostile_strings_are_escaped(hostile_outputs: dict[str, str], kind: str) -> None:
    out = hostile_outputs[kind]
    assert "<script" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert '"quoted"' not in out
    assert "&quot;quoted&quot;" in out
    assert "'single'" not in out


def test_hostile_strings_in_html_stay_text(hostile_outputs: dict[str, str]) -> None:
    page = hostile_outputs["html"]
    assert {tag for tag, _ in tags(page)}.isdisjoint({"script"})
    assert "<title>Model card: &lt;script&gt;" in page
    assert "<img" in page  # the hostile labels (with a $...$) were drawn, not refused


def test_hostile_strings_in_markdown_keep_tables_whole(hostile_outputs: dict[str, str]) -> None:
    text = hostile_outputs["markdown"]
    assert "\\| pipe" in text
    assert "<br>second line" in text
    assert "\nsecond line" not in text  # a newline in a value never starts a line of the output
    assert "![t](" not in text  # no image a viewer would fetch
    assert "!\\[t\\](x.png)" in text
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.endswith("|")
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            assert len(cells) in {2, 4, 5, 6}, line


@pytest.mark.parametrize("render", [render_html, render_markdown])
def test_control_and_bidi_characters_are_replaced(render: Any) -> None:
    card = minimal_card()
    card["model"]["name"] = "good\u202edab\x00\x1b[31m"
    out = render(card)
    assert "\u202e" not in out
    assert "\x00" not in out
    assert "\x1b" not in out
    assert "good\ufffddab" in out


# --- partial cards and determinism -----------------------------------------------------------------------


@pytest.mark.parametrize("render", [render_html, render_markdown])
def test_minimal_card_renders_not_recorded_sections(render: Any) -> None:
    out = render(minimal_card())
    assert "Model card: tiny@1" in out
    for title in ["Intended use", "Data", "Training", "Performance", "Explanations", "Fairness", "Data audit"]:
        assert title in out
    assert out.count("not recorded") >= 12
    assert "data:image" not in out


def test_empty_card_and_nulls_render() -> None:
    assert "Model card: (unnamed)@(unversioned)" in render_html({})
    card = full_card()
    card["performance"]["metrics"]["accuracy"] = {"value": None, "low": None, "high": None}
    card["performance"]["interval"] = None
    card["data"]["schema"] = "not a list"
    card["fairness"]["columns"][0]["demographic_parity_ratio"] = None
    card["evidence"]["signature"]["verified"] = False
    card["training"] = "unexpected"
    card["performance"]["calibration"]["bins"][0]["observed"] = None
    card["explanations"]["importance"] = None
    del card["fairness"]["columns"][1]
    page = render_html(card)
    assert "<td>Metric: accuracy</td><td>not recorded</td>" in page
    assert '<td class="flag">NOT verified</td>' in page
    assert '<td class="flag">four-fifths rule flagged</td>' in page
    assert "not recorded (unexpected value: unexpected)" in page
    render_markdown(card)


def test_not_a_mapping_is_bad_input() -> None:
    with pytest.raises(BadInput):
        render_html([])  # type: ignore[arg-type]
    with pytest.raises(BadInput):
        render_markdown("card")  # type: ignore[arg-type]


def test_output_is_deterministic_and_card_untouched(full_html: str, full_md: str) -> None:
    card = full_card()
    snapshot = copy.deepcopy(card)
    assert render_markdown(card) == full_md
    assert without_images(render_html(card)) == without_images(full_html)
    assert card == snapshot
