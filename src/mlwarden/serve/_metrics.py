"""The server's Prometheus metrics, in a registry of its own (never the process-global one).

``mlwarden_stage_seconds{stage}`` times each protection a prediction passes (auth, limits, body,
validate, predict, audit, monitor) and the whole request (total), so an operator, and
``benchmarks/serving.py``, can see what each protection costs per request.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary, generate_latest

__all__ = ["STAGES", "ServerMetrics"]

STAGES = ("auth", "limits", "body", "validate", "predict", "audit", "monitor", "total")


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mlwarden_requests",
            "Prediction requests answered, by model and HTTP status.",
            ["model", "status"],
            registry=self.registry,
        )
        self.instances = Counter("mlwarden_instances", "Rows predicted, by model.", ["model"], registry=self.registry)
        stage = Summary(
            "mlwarden_stage_seconds", "Seconds spent per request in each stage.", ["stage"], registry=self.registry
        )
        self.stage = {name: stage.labels(name) for name in STAGES}
        self.batch_rows = Summary(
            "mlwarden_batch_rows", "Rows per predictor call (micro-batching).", ["model"], registry=self.registry
        )
        self.batch_seconds = Summary(
            "mlwarden_batch_seconds", "Compute seconds per predictor call.", ["model"], registry=self.registry
        )
        self.alerts = Counter(
            "mlwarden_extraction_alerts", "Extraction alerts raised, by model.", ["model"], registry=self.registry
        )
        self.explanations = Counter(
            "mlwarden_explanations",
            "Rows explained (exact, additivity checked), by model.",
            ["model"],
            registry=self.registry,
        )
        self.explanation_failures = Counter(
            "mlwarden_explanation_failures",
            "Explanations withheld because they failed the additivity check, by model.",
            ["model"],
            registry=self.registry,
        )
        self.models = Gauge("mlwarden_models_served", "Model versions this process serves.", registry=self.registry)
        self.model_version = Gauge(
            "mlwarden_model_version",
            "The version of each model this process serves.",
            ["model"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "mlwarden_model_reloads",
            "Checks for new production versions, by model and outcome: switched, added, refused (failed its "
            "checks, kept the old), unpromoted (no production version left, kept serving), error (the check failed).",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.refused = Counter(
            "mlwarden_refused", "Requests refused before prediction, by reason.", ["reason"], registry=self.registry
        )
        # Live profiles: set when a model's window closes, from its comparison with the reference profile.
        by_column = ["model", "column"]
        self.drift_psi = Gauge(
            "mlwarden_drift_psi",
            "Population stability index of the last closed window against the reference, by model and column.",
            by_column,
            registry=self.registry,
        )
        self.drift_p_value = Gauge(
            "mlwarden_drift_p_value",
            "P-value of the last closed window's drift test, by model and column.",
            by_column,
            registry=self.registry,
        )
        self.drift_detected = Gauge(
            "mlwarden_drift_detected",
            "1 if the last closed window drifted from the reference (Benjamini-Hochberg), by model and column.",
            by_column,
            registry=self.registry,
        )
        self.drift_rows = Gauge(
            "mlwarden_drift_rows", "Rows in the last closed window, by model.", ["model"], registry=self.registry
        )
        self.drift_window_failures = Counter(
            "mlwarden_drift_window_failures",
            "Windows of live profiles that could not be stored or compared, by model.",
            ["model"],
            registry=self.registry,
        )

    def batch_observer(self, model: str) -> Callable[[int, float], None]:
        rows, seconds = self.batch_rows.labels(model), self.batch_seconds.labels(model)

        def observe(count: int, took: float) -> None:
            rows.observe(count)
            seconds.observe(took)

        return observe

    def render(self) -> bytes:
        return generate_latest(self.registry)
