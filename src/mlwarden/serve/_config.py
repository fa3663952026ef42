"""What ``mlwarden serve`` is asked to do: a frozen record, built by the CLI or by code.

It travels to uvicorn's worker processes as JSON in ``MLWARDEN_SERVE_CONFIG`` (no secret is in
it: keys come from the environment each worker unlocks the workspace with).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mlwarden.errors import BadInput

__all__ = ["OutputPolicy", "ServeConfig", "parse_output_policy"]

_POLICY = re.compile(r"(?:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)=)?(?P<kind>labels|round:(?P<digits>[0-9]{1,2}))")


@dataclass(frozen=True)
class OutputPolicy:
    """What a model's answers reveal: labels only, or probabilities rounded to ``digits`` decimals."""

    labels_only: bool = False
    digits: int = 6

    def describe(self) -> str:
        return "labels only" if self.labels_only else f"probabilities rounded to {self.digits} decimals"


def parse_output_policy(text: str) -> tuple[str | None, OutputPolicy]:
    """``labels``, ``round:3``, ``credit-risk=labels`` or ``credit-risk=round:2`` -> (model or None, policy)."""
    match = _POLICY.fullmatch(text.strip())
    if match is None:
        raise BadInput(f"--output {text!r} is not a policy: write labels, round:N or MODEL=labels, MODEL=round:N")
    digits = match.group("digits")
    if digits is not None and not 0 <= int(digits) <= 15:
        raise BadInput(f"--output {text!r}: round to 0 to 15 decimals")
    policy = OutputPolicy(labels_only=digits is None, digits=6 if digits is None else int(digits))
    return match.group("name"), policy


@dataclass(frozen=True)
class ServeConfig:
    """Everything a server process needs besides the keys. Defaults are the safe, documented ones."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    models: tuple[str, ...] = ()
    """``NAME`` or ``NAME@V`` to serve; empty: every model version in stage ``production``."""
    home: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    max_body_bytes: int = 1_048_576
    max_instances: int = 256
    range_margin: float = 0.0
    default_output: OutputPolicy = field(default_factory=OutputPolicy)
    outputs: tuple[tuple[str, OutputPolicy], ...] = ()
    """Per-model output policies, overriding ``default_output``."""
    extraction_monitor: bool = True
    suspend_on_extraction: bool = False
    max_batch_rows: int = 512
    max_in_flight: int = 1024
    """Predict requests answered at once; more get 503 with ``Retry-After`` straight away."""
    refusals_per_minute: int = 60
    """Refusals (401, 403, 429) recorded one by one per source and minute; more are counted."""
    header_timeout: float = 10.0
    """Seconds a connection may take to send a request's headers (slow or idle clients are closed)."""
    body_timeout: float = 20.0
    """Seconds a predict request may take to send its whole body, from when the server starts reading it
    (once its token and limits are checked); else 408 and the connection is closed."""
    body_min_rate: int = 4096
    """Bytes a second a body must arrive at, on average, once ``body_grace`` has passed (0: no minimum)."""
    body_grace: float = 2.0
    """Seconds at the start of a body during which no minimum rate applies."""
    max_reading_per_token: int = 32
    """Predict requests of one token whose bodies are being read at once; more get 429 (and are closed)."""
    max_reading_per_client: int = 256
    """Predict requests from one client address whose bodies are being read at once; more get 429."""
    max_in_flight_per_token: int = 0
    """Predict requests of one token answered at once; 0: a fair share, max(8, max_in_flight / active tokens)."""
    reason_maps: tuple[tuple[str, str], ...] = ()
    """``(model, path of a reason map file)``: the deployer's reason texts in front of the model's own."""
    forwarded_allow_ips: tuple[str, ...] = ()
    """Proxy addresses (or CIDR networks) whose ``X-Forwarded-For`` is believed; empty: none, the TCP peer."""
    reload_interval: float = 10.0
    """Seconds between checks of the catalog for newly promoted production versions, when the server
    serves by stage (no ``models`` named); 0: no polling (SIGHUP still checks at once)."""
    drift_window: float = 300.0
    """Seconds of traffic each live-profile window counts before it is persisted and compared with the
    model's reference profile (counts only, never rows); 0: no live profiles."""

    def reason_map_for(self, model: str) -> str | None:
        """The path of the deployer's reason map file for ``model``, or ``None``."""
        return next((path for name, path in self.reason_maps if name == model), None)

    def output_for(self, model: str) -> OutputPolicy:
        for name, policy in self.outputs:
            if name == model:
                return policy
        return self.default_output

    def check(self) -> ServeConfig:
        if not 0 < self.port < 65536:
            raise BadInput(f"--port {self.port} is not a TCP port (1 to 65535)")
        if not 1 <= self.workers <= 64:
            raise BadInput(f"--workers {self.workers}: give 1 to 64")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise BadInput("give both --tls-cert and --tls-key, or neither")
        if not 1024 <= self.max_body_bytes <= 256 * 1024 * 1024:
            raise BadInput("--max-body must be between 1 KiB and 256 MiB")
        if not 1 <= self.max_instances <= 100_000:
            raise BadInput("--max-instances must be between 1 and 100000")
        if not 1 <= self.max_in_flight <= 1_000_000:
            raise BadInput("the most predict requests in progress must be between 1 and 1000000")
        if not 1 <= self.refusals_per_minute <= 10_000_000:
            raise BadInput("the refusals recorded per source and minute must be between 1 and 10000000")
        if not 0.1 <= self.header_timeout <= 3600:
            raise BadInput("the header timeout must be between 0.1 and 3600 seconds")
        if not 1 <= self.body_timeout <= 3600:
            raise BadInput("--body-timeout must be between 1 and 3600 seconds")
        if not 0 <= self.body_min_rate <= 1_000_000_000:
            raise BadInput("--body-min-rate must be between 0 and 1000000000 bytes a second (0: no minimum)")
        if not 0 <= self.body_grace <= self.body_timeout:
            raise BadInput("the body's grace period must be between 0 seconds and --body-timeout")
        if not 1 <= self.max_reading_per_token <= 1_000_000 or not 1 <= self.max_reading_per_client <= 1_000_000:
            raise BadInput("the bodies read at once per token and per client address must be between 1 and 1000000")
        if not 0 <= self.max_in_flight_per_token <= self.max_in_flight:
            raise BadInput("--max-in-flight-per-token must be between 0 (a fair share) and the most in progress")
        for entry in self.forwarded_allow_ips:
            _check_proxy_address(entry)
        if self.reload_interval != 0 and not 0.1 <= self.reload_interval <= 86_400:
            raise BadInput("--reload-interval must be 0 (off) or between 0.1 and 86400 seconds")
        if self.drift_window != 0 and not 1 <= self.drift_window <= 86_400:
            raise BadInput("--drift-window must be 0 (off) or between 1 and 86400 seconds")
        if not 0 <= self.range_margin <= 10:
            raise BadInput("--range-margin must be between 0 and 10 (a fraction of each column's training range)")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        doc: dict[str, Any] = json.loads(text)
        doc["models"] = tuple(doc.get("models", ()))
        doc["default_output"] = OutputPolicy(**doc.get("default_output", {}))
        doc["outputs"] = tuple((str(n), OutputPolicy(**p)) for n, p in doc.get("outputs", ()))
        doc["forwarded_allow_ips"] = tuple(doc.get("forwarded_allow_ips", ()))
        doc["reason_maps"] = tuple((str(n), str(p)) for n, p in doc.get("reason_maps", ()))
        return cls(**doc).check()


def _check_proxy_address(entry: str) -> None:
    """An address or CIDR network of ``--forwarded-allow-ips`` (never ``*``: name the proxies)."""
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise BadInput(
            f"--forwarded-allow-ips {entry!r} is not an IP address or CIDR network; name the proxies' addresses"
        ) from None
