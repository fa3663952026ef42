"""The inference service, free of any web framework: what happens to one prediction request.

Each request passes, in this order (the first refusal answers):

1. **auth**: a bearer token of an active principal, else 401 (missing, malformed, unknown,
   expired, revoked or suspended; the refusal is audited with the token's public id);
2. **grant**: ``predict`` on ``model:NAME``, else 403, worded exactly as for a model that is not
   served, so a caller learns nothing about models it may not use;
3. **limits**: the token's rate per minute and quota per day, else 429 with ``Retry-After``;
4. **body**: at most ``max_body_bytes`` (checked on ``Content-Length`` and while reading), else
   413 before a row is parsed; complete within ``body_timeout`` and at ``body_min_rate`` after
   ``body_grace``, else 408; no more than ``max_reading_per_token`` bodies of this token and
   ``max_reading_per_client`` from this address read at once, else 429 (the connection of a
   request whose body was not read to its end is closed);
   then one of the ``max_in_flight`` slots, within the token's share, else 429 or 503
   (:mod:`mlwarden.serve._admission`): a body is read outside the slots, so slow senders hold none;
   JSON, else 422;
5. **validate**: rows against the model's training schema, else 422 naming the first problem;
6. **predict**: micro-batched with concurrent requests (:mod:`mlwarden.serve._batching`);
7. **audit**: one entry per request (principal, token id, model and digest, training dataset
   version, request id, SHA-256 of the body, the answer as sent) appended durably *before* the
   answer leaves, group-committed with concurrent requests; if the log cannot be written the
   answer is 503 and nothing is disclosed;
8. **monitor**: the token's queries feed the extraction monitor; an alert is audited and, if the
   server was started with ``suspend_on_extraction``, suspends the token.

Answers are shaped by the model's output policy (labels only, or rounded probabilities).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlwarden._clock import Clock, event_time, utc_now
from mlwarden._json import JsonRefused, RepeatedName, loads_strict
from mlwarden._services import SERVER_PRINCIPAL
from mlwarden.access import Gate, Principal, TokenRefused, hash_token, new_request_id, parse_token
from mlwarden.auditlog import AuditUnavailable
from mlwarden.auditlog._records import Detail
from mlwarden.errors import AccessDenied, BadInput, IntegrityError, MlwardenError
from mlwarden.explain import ExplanationFailed
from mlwarden.serve._admission import Admission, BodyTooSlow
from mlwarden.serve._config import OutputPolicy, ServeConfig
from mlwarden.serve._loading import LoadFailure, ServedModel, load_models
from mlwarden.serve._metrics import ServerMetrics
from mlwarden.serve._profiles import LiveProfiles
from mlwarden.serve._ratelimit import RateLimiter
from mlwarden.serve._refusals import RefusalBudget
from mlwarden.serve._reload import Reloader
from mlwarden.serve._validate import InvalidRows

if TYPE_CHECKING:
    from mlwarden._workspace import Workspace
    from mlwarden.serve._extraction import ExtractionAlert, ExtractionMonitor
    from mlwarden.serve._predictor import Prediction

__all__ = ["Reply", "Service"]

log = logging.getLogger("mlwarden.serve")

_RECHECK_SECONDS = 5.0  # a cached token, and the operator's record, are re-read at least this often
_NOT_SERVED = "no model by that name is served to this token"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps({"error": message}).encode(), headers or {})


_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="mlwarden"'}


class Service:
    """Answers requests for the models in ``models``, on behalf of the workspace ``ws`` (the operator's)."""

    def __init__(
        self,
        ws: Workspace,
        config: ServeConfig,
        models: dict[str, ServedModel],
        *,
        failures: list[LoadFailure] | None = None,
        monitors: dict[str, ExtractionMonitor] | None = None,
        limiter: RateLimiter | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.ws = ws
        self.config = config
        self.models = models
        self.failures = failures or []
        self.monitors = monitors or {}
        """One extraction monitor per model: each watches every token's queries of its model."""
        self.limiter = limiter or RateLimiter(now=clock)
        self.metrics = ServerMetrics()
        self.metrics.models.set(len(models))
        for name, served in models.items():
            served.batcher.observe = self.metrics.batch_observer(name)
            self.metrics.model_version.labels(name).set(served.version)
        self.generation = 0
        """Moves on each model switch (what is cached per set of models, the OpenAPI document, is rebuilt)."""
        self._clock = clock
        self.clock = clock
        # One authenticator and one kind of gate for the workspace and the server: logins go through
        # ws.authenticator, and every entry through a Gate's record_async (group-committed).
        self._auth = ws.authenticator
        self._server = self._auth.system(SERVER_PRINCIPAL, clock=clock)
        self._principals: dict[str, tuple[Gate, float]] = {}
        self._principals_version = -1
        self._operator_checked = -math.inf
        self.operator_active = True
        self.refusals = RefusalBudget(budget=config.refusals_per_minute)
        self.admission = Admission(config)
        self._background: set[asyncio.Task[None]] = set()
        self.reloader = Reloader(self)
        """Switches to newly promoted production versions while serving (:mod:`mlwarden.serve._reload`)."""
        self.profiles = LiveProfiles(self)
        """The live-profile windows of the models served (:mod:`mlwarden.serve._profiles`)."""
        for served in models.values():
            self.profiles.open(served)

    @classmethod
    def start(
        cls,
        config: ServeConfig,
        ws: Workspace,
        *,
        limiter: RateLimiter | None = None,
        clock: Clock = utc_now,
    ) -> Service:
        """Load the models (refusing to start if none verifies) and the day's counts from the log."""
        models, failures = load_models(ws, config)
        if not models:
            shown = "; ".join(f"{f.ref}: {f.message}" for f in failures)
            raise IntegrityError(f"no model verified, so nothing is served ({shown})")
        for failure in failures:
            log.error("not serving %s: %s: %s", failure.ref, failure.error, failure.message)
        for m in models.values():
            how = "compiled" if m.predictor.compiled else "scikit-learn"
            log.info("serving %s@%d (sha256 %s, %s, %s)", m.name, m.version, m.digest[:16], how, m.output.describe())
        monitors = None
        if config.extraction_monitor:
            from mlwarden.serve._extraction import ExtractionMonitor

            monitors = {name: ExtractionMonitor() for name in models}
        service = cls(ws, config, models, failures=failures, monitors=monitors, limiter=limiter, clock=clock)
        service.seed_quotas()
        return service

    def seed_quotas(self) -> None:
        """Count today's requests per token from the audit log, so a restart keeps the day's quotas.

        Every request that passed the limits left one ``predict`` entry: ``succeeded``, or
        ``failed`` when its body was refused; both count, as they did before the restart.
        """
        day = self._clock().strftime("%Y-%m-%d")
        self.limiter.seed(day, self.ws.log.requests_per_token(f"{day}T00:00:00.000000Z"))

    # -- authentication ----------------------------------------------------------------------

    def _refresh_principals(self) -> None:
        """Forget cached principals when any principal changed; re-check the operator then too."""
        version = self._auth.changes()
        tick = self._clock().timestamp()
        if version != self._principals_version or abs(tick - self._operator_checked) >= _RECHECK_SECONDS:
            if version != self._principals_version:
                self._principals.clear()
                self._principals_version = version
            self._operator_checked = tick
            try:
                self.operator_active = self._auth.state(self.ws.principal.name) == "active"
            except MlwardenError:
                self.operator_active = False

    async def authenticate(
        self, authorization: str | None, request_id: str, *, client: str | None = None
    ) -> Gate | Reply:
        """The gate of the principal behind ``Authorization: Bearer <token>`` (for this request),
        or the 401 (or 503) to answer.

        ``authorization`` holds every ``Authorization`` header of the request, joined by newlines:
        more than one is refused, so a proxy and the server can never read different ones.
        ``client`` (the peer's address) and, for a token id that exists, the id key the budgets
        of 401s recorded one by one (:mod:`mlwarden.serve._refusals`).
        """
        if authorization is None:
            message = "no bearer token: send Authorization: Bearer <token>"
            return await self._refuse_token(request_id, None, "no-token", message, client)
        if "\n" in authorization:  # the app joins repeated headers with newlines
            message = "more than one Authorization header: send exactly one"
            return await self._refuse_token(request_id, None, "malformed", message, client)
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            message = "the Authorization header is not Bearer <token>"
            return await self._refuse_token(request_id, None, "malformed", message, client)
        self._refresh_principals()
        if not self.operator_active:
            return _error(503, "the server's operator token is no longer active, so nothing is served")
        key = hash_token(token)
        cached = self._principals.get(key)
        moment = self._clock()
        # A cached principal is re-read from the database at least every few seconds, whatever the
        # change counter says (someone who can write the database can hold the counter still).
        fresh = cached is not None and 0 <= moment.timestamp() - cached[1] < _RECHECK_SECONDS
        if cached is not None and fresh and cached[0].principal.state(event_time(moment)) == "active":
            return cached[0].for_request(request_id)
        try:
            gate = self._auth.authenticate(token, request_id=request_id, clock=self._clock)
        except (TokenRefused, IntegrityError) as exc:
            parsed = parse_token(token)
            token_id = None if parsed is None else parsed.token_id
            if isinstance(exc, TokenRefused):
                return await self._refuse_token(request_id, token_id, exc.reason, str(exc), client)
            message = "the token is not valid for this workspace"
            return await self._refuse_token(request_id, token_id, "tampered-record", message, client)
        if len(self._principals) > 10_000:
            self._principals.clear()
        self._principals[key] = (gate, moment.timestamp())
        return gate

    async def _refuse_token(
        self, request_id: str, token_id: str | None, reason: str, message: str, client: str | None
    ) -> Reply:
        """Answer 401; audited, within the budgets of refusals recorded one by one: the client's, and
        the token id's when the id exists (any refusal but ``unknown`` or ``malformed`` names one),
        else the one budget all unknown and malformed tokens share."""
        self.metrics.refused.labels(reason).inc()
        known = token_id is not None and reason not in ("unknown", "malformed", "no-token")
        carried = self.refusals.admit(f"401 {client}", f"401 id {token_id}" if known else "401 unknown")
        if carried is not None and not await self._record(
            principal="-",
            action="auth.token",
            resource="serve",
            outcome="denied",
            request_id=request_id,
            details={"token": token_id, "reason": reason, **_unrecorded(carried)},
        ):
            return _unavailable()
        return _error(401, message, _UNAUTHORIZED_HEADERS)

    async def _record(
        self,
        *,
        principal: Gate | str,
        action: str,
        resource: str,
        outcome: str,
        request_id: str,
        details: dict[str, Detail],
    ) -> bool:
        """Record one entry through the gate of ``principal`` (a caller's gate, or the server's own
        names: :data:`SERVER_PRINCIPAL`, ``-`` for a refused token), durably, group-committed with
        concurrent requests; ``False`` if the log cannot be written (the caller answers 503)."""
        if isinstance(principal, Gate):
            gate = principal.for_request(request_id)
        elif principal == SERVER_PRINCIPAL:
            gate = self._server.for_request(request_id)
        else:
            gate = self._auth.system(principal, request_id=request_id, clock=self._clock)
        try:
            await gate.record_async(action, resource, outcome=outcome, **details)
        except AuditUnavailable:
            return False
        return True

    # -- requests ----------------------------------------------------------------------------

    def may_use(self, who: Gate | Principal, name: str) -> bool:
        return name in self.models and who.allows("predict", f"model:{name}")

    async def list_models(self, authorization: str | None, *, client: str | None = None) -> Reply:
        request_id = new_request_id()
        gate = await self.authenticate(authorization, request_id, client=client)
        if isinstance(gate, Reply):
            return gate
        shown = [m.describe() for name, m in sorted(self.models.items()) if self.may_use(gate, name)]
        return Reply(200, json.dumps({"models": shown}).encode())

    async def predict(
        self,
        name: str,
        authorization: str | None,
        content_length: str | None,
        read_body: Callable[[int], Awaitable[bytes | None]],
        *,
        client: str | None = None,
    ) -> Reply:
        """Answer one prediction request (see the module's docstring for the order of the checks)."""
        started = time.perf_counter()
        stage = self.metrics.stage
        request_id = new_request_id()
        gate = await self.authenticate(authorization, request_id, client=client)
        if isinstance(gate, Reply):
            return gate
        who = gate.principal
        # Read once: this request is answered wholly by this version, whatever is switched in meanwhile.
        served = self.models.get(name)
        if served is None or not who.allows("predict", f"model:{name}"):
            self.metrics.refused.labels("not-granted").inc()
            return await self._deny(gate, name, request_id, 403, _NOT_SERVED, "not-granted")
        t_auth = time.perf_counter()
        stage["auth"].observe(t_auth - started)
        served.enter()
        try:
            return await self._granted(
                gate, served, name, request_id, content_length, read_body, client, started, t_auth
            )
        finally:
            served.leave()

    async def _granted(
        self,
        gate: Gate,
        served: ServedModel,
        name: str,
        request_id: str,
        content_length: str | None,
        read_body: Callable[[int], Awaitable[bytes | None]],
        client: str | None,
        started: float,
        t_auth: float,
    ) -> Reply:
        """The rest of :meth:`predict` for a granted request: limits, body, slot, then :meth:`_answer`."""
        stage = self.metrics.stage
        who = gate.principal

        refusal = self.limiter.take(who.token_id, who.limits)
        if refusal is not None:
            self.metrics.refused.labels(refusal.what).inc()
            what = "requests per minute" if refusal.what == "rate" else "requests per day"
            return await self._deny(
                gate,
                name,
                request_id,
                429,
                f"limit of {refusal.limit} {what} reached for this token; retry after {refusal.retry_after} s",
                refusal.what,
                {"Retry-After": str(refusal.retry_after)},
            )
        t_limits = time.perf_counter()
        stage["limits"].observe(t_limits - t_auth)

        limit = self.config.max_body_bytes
        too_big = f"the request body is larger than {limit} bytes; send fewer instances per call"
        if content_length is not None:
            try:
                declared = int(content_length)
            except ValueError:
                return await self._fail(
                    gate, name, request_id, 400, "the Content-Length header is not a number", "bad-length"
                )
            if declared > limit:
                return await self._fail(gate, name, request_id, 413, too_big, "too-large")
        busy = self.admission.start_reading(who.token_id, client)
        if busy is not None:
            self.metrics.refused.labels(busy.reason).inc()
            retry = {"Retry-After": str(busy.retry_after)}
            return await self._deny(gate, name, request_id, busy.status, busy.message, busy.reason, retry)
        try:
            body = await read_body(limit)
        except BodyTooSlow as exc:
            return await self._fail(gate, name, request_id, 408, str(exc), "body-timeout", budgeted=True)
        finally:
            self.admission.done_reading(who.token_id, client)
        if body is None:
            return await self._fail(gate, name, request_id, 413, too_big, "too-large")
        busy = self.admission.enter(who.token_id)
        if busy is not None:
            self.metrics.refused.labels(busy.reason).inc()
            retry = {"Retry-After": str(busy.retry_after)}
            return await self._deny(gate, name, request_id, busy.status, busy.message, busy.reason, retry)
        try:
            return await self._answer(gate, served, name, body, request_id, started, t_limits)
        finally:
            self.admission.leave(who.token_id)

    async def _answer(
        self, gate: Gate, served: ServedModel, name: str, body: bytes, request_id: str, started: float, t_limits: float
    ) -> Reply:
        """Parse, validate, predict, audit and monitor one request whose body is complete (in a slot)."""
        stage = self.metrics.stage
        who = gate.principal
        try:
            doc = loads_strict(body, what="the body")
        except RepeatedName as exc:  # parsers disagree on which of the two wins
            message = f"the name {exc.name[:40]!r} appears twice in one JSON object; send it once"
            return await self._fail(gate, name, request_id, 422, message, "invalid-json")
        except JsonRefused:  # not UTF-8, not JSON, NaN or Infinity, nested too deeply
            message = 'the body is not JSON in UTF-8: send {"instances": [{"column": value, ...}]}'
            return await self._fail(gate, name, request_id, 422, message, "invalid-json")
        t_body = time.perf_counter()
        stage["body"].observe(t_body - t_limits)

        try:
            if not isinstance(doc, dict) or "instances" not in doc:
                raise InvalidRows('the body must be a JSON object with "instances": a list of row objects')
            other = next((k for k in doc if k not in ("instances", "explain")), None)
            if other is not None:
                raise InvalidRows(f'unknown field {other[:40]!r} in the body: send "instances" (and "explain")')
            explain = doc.get("explain", False)
            if not isinstance(explain, bool):
                raise InvalidRows('"explain" must be true or false')
            rows = doc["instances"]
            batch = served.validator.validate(rows)
        except InvalidRows as exc:
            return await self._fail(gate, name, request_id, 422, str(exc), "invalid-rows")
        count = len(rows)
        if explain:
            # Explanations reveal more of a model than its labels: their own grant, off for plain clients.
            if not who.allows("predict.explain", f"model:{name}"):
                self.metrics.refused.labels("explain-not-granted").inc()
                message = "this token may not receive explanations of this model (it needs predict.explain)"
                return await self._deny(gate, name, request_id, 403, message, "explain-not-granted")
            if served.explainer is None:
                message = "this model has no explanation background (train it with mlwarden train to explain it)"
                return await self._fail(gate, name, request_id, 422, message, "not-explainable")
        t_valid = time.perf_counter()
        stage["validate"].observe(t_valid - t_body)

        prediction = await served.batcher.predict(batch, count)
        answer = _answer(prediction, served.output)
        explained: dict[str, Detail] = {}
        if explain and served.explainer is not None:
            try:
                if prediction.features is None:
                    raise ExplanationFailed("the predictor gave no preprocessed rows to explain")
                explanations = await asyncio.to_thread(
                    served.explainer.explain, prediction.features, rows, prediction.labels
                )
            except ExplanationFailed as exc:
                self.metrics.explanation_failures.labels(name).inc()
                log.error("explanation of %s failed its check: %s", name, exc)
                return await self._fail(
                    gate,
                    name,
                    request_id,
                    500,
                    "the explanation failed its additivity check and was withheld",
                    "explanation-check",
                )
            answer["explanations"] = explanations
            self.metrics.explanations.labels(name).inc(count)
            explained = {
                "reasons": json.dumps([e["reasons"] for e in explanations], separators=(",", ":")),
                "reason_map_sha256": served.explainer.reasons.sha256,
                "background_sha256": served.explainer.background_sha256,
            }
        t_pred = time.perf_counter()
        stage["predict"].observe(t_pred - t_valid)

        output = json.dumps(answer, separators=(",", ":"))
        if not await self._record(
            principal=gate,
            action="predict",
            resource=f"model:{name}",
            outcome="succeeded",
            request_id=request_id,
            details={
                "token": who.token_id,
                "model": f"{name}@{served.version}",
                "digest": served.digest,
                "dataset": served.dataset,
                "input": hashlib.sha256(body).hexdigest(),
                "instances": count,
                "output": output,
                **explained,
            },
        ):
            self.metrics.requests.labels(name, "503").inc()
            return _unavailable()
        t_audit = time.perf_counter()
        stage["audit"].observe(t_audit - t_pred)

        if served.window is not None:  # counts into the reference's bins; no row is kept
            self.profiles.add(served, batch, prediction, count)
        monitor = self.monitors.get(name)
        if monitor is not None and prediction.features is not None:
            alert = monitor.observe(who.token_id, prediction.features, prediction.labels)
            if explain:
                alert = monitor.observe_explanations(who.token_id, count) or alert
            if alert is not None:
                self.spawn(self._alert(who, served, alert, request_id))
        finished = time.perf_counter()
        stage["monitor"].observe(finished - t_audit)
        stage["total"].observe(finished - started)
        self.metrics.requests.labels(name, "200").inc()
        self.metrics.instances.labels(name).inc(count)
        reply = {"predictions": answer["predictions"], "probabilities": answer.get("probabilities")}
        if "explanations" in answer:
            reply["explanations"] = answer["explanations"]
        reply["model"] = served.model_json
        reply["request_id"] = request_id
        return Reply(200, json.dumps(reply, separators=(",", ":")).encode())

    async def _deny(
        self,
        gate: Gate,
        name: str,
        request_id: str,
        status: int,
        message: str,
        reason: str,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Record a refused prediction (resource named only if it is a valid model name), then answer."""
        from mlwarden.store._names import check_name

        who = gate.principal
        try:
            resource = f"model:{check_name(name, 'model')}"
        except BadInput:
            resource = "model:-"
        carried = self.refusals.admit(f"{status} {who.token_id}")
        if carried is not None and not await self._record(
            principal=gate,
            action="predict",
            resource=resource,
            outcome="denied",
            request_id=request_id,
            details={"token": who.token_id, "reason": reason, **_unrecorded(carried)},
        ):
            return _unavailable()
        if name in self.models:
            self.metrics.requests.labels(name, str(status)).inc()
        return _error(status, message, headers)

    async def refuse(self, who: Gate, what: str, message: str) -> Reply:
        """Refuse ``who`` a server resource (``metrics``) its role does not cover: audited, then 403."""
        if not await self._record(
            principal=who,
            action=f"serve.{what}",
            resource="serve",
            outcome="denied",
            request_id=who.request_id,
            details={"token": who.principal.token_id},
        ):
            return _unavailable()
        return _error(403, message)

    async def _fail(
        self,
        gate: Gate,
        name: str,
        request_id: str,
        status: int,
        message: str,
        reason: str,
        *,
        budgeted: bool = False,
    ) -> Reply:
        """Record a granted request whose body was refused (``predict``, ``failed``, the reason), then answer.

        ``budgeted``: a refusal a client can repeat cheaply on many connections at once (a body too
        slow), recorded within the token's budget of refusals like a 429 (counted past it)."""
        self.metrics.refused.labels(reason).inc()
        self.metrics.requests.labels(name, str(status)).inc()
        token_id = gate.principal.token_id
        carried = self.refusals.admit(f"{status} {token_id}") if budgeted else 0
        if carried is not None and not await self._record(
            principal=gate,
            action="predict",
            resource=f"model:{name}",
            outcome="failed",
            request_id=request_id,
            details={"token": token_id, "reason": reason, **_unrecorded(carried)},
        ):
            return _unavailable()
        return _error(status, message)

    # -- switching models --------------------------------------------------------------------

    def install(self, new: ServedModel) -> ServedModel | None:
        """Serve ``new`` from the next request on (on the event loop's thread); the version it replaces.

        Requests that already hold the old version are answered by it; it retires once the last of
        them is answered. What belongs to the model's name carries over: its extraction monitor
        (the tokens' query histories) and its metrics.
        """
        name = new.name
        new.batcher.observe = self.metrics.batch_observer(name)
        if self.config.extraction_monitor and name not in self.monitors:
            from mlwarden.serve._extraction import ExtractionMonitor

            self.monitors[name] = ExtractionMonitor()
        self.profiles.open(new)
        old = self.models.get(name)
        self.models[name] = new
        self.generation += 1
        self.metrics.models.set(len(self.models))
        self.metrics.model_version.labels(name).set(new.version)
        if old is not None:
            self.spawn(self._retire(old))
        return old

    async def _retire(self, old: ServedModel) -> None:
        """Once no request holds a switched-out version, let it go."""
        await old.idle()
        log.info("retired %s@%d (sha256 %s): its last request was answered", old.name, old.version, old.digest[:16])
        self.profiles.close(old, reopen=False)  # its window holds its traffic only, to the end

    # -- extraction alerts -------------------------------------------------------------------

    def spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        """Run ``work`` in the background (on the event loop); :meth:`drain` waits for it."""
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _alert(self, who: Principal, served: ServedModel, alert: ExtractionAlert, request_id: str) -> None:
        """Record an extraction alert under the id of the request that raised it; suspend the token if told to."""
        self.metrics.alerts.labels(served.name).inc()
        suspend = self.config.suspend_on_extraction
        if not await self._record(
            principal=SERVER_PRINCIPAL,
            action="monitor.extraction",
            resource=f"model:{served.name}",
            outcome="succeeded",
            request_id=request_id,
            details={
                "token": who.token_id,
                "subject": who.name,
                "test": alert.test,
                "statistic": f"{alert.statistic:.6f}",
                "threshold": f"{alert.threshold:g}",
                "queries": alert.queries,
                "suspend": suspend,
                "detail": alert.detail[:200],
            },
        ):
            log.error("an extraction alert for %s could not be recorded", who.name)
        log.warning("extraction alert for %s on %s: %s", who.name, served.name, alert.detail)
        if suspend:
            reason = f"extraction monitor: {alert.test} statistic {alert.statistic:.4f} < {alert.threshold}"
            try:
                await asyncio.to_thread(
                    self.ws.users.suspend_for_server, who.name, reason=reason, request_id=request_id
                )
            except (MlwardenError, AccessDenied) as exc:
                log.error("could not suspend %s: %s", who.name, exc)
            self._principals.clear()

    async def drain(self) -> None:
        """Close the live-profile windows, wait for background work (alerts, windows being stored) to
        finish; record the refusals still uncounted."""
        self.profiles.flush()
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        outstanding = self.refusals.outstanding()
        if outstanding and not await self._record(
            principal=SERVER_PRINCIPAL,
            action="serve.refusals",
            resource="serve",
            outcome="succeeded",
            request_id=new_request_id(),
            details={"unrecorded": outstanding},
        ):
            log.error("%d refusals could not be recorded", outstanding)


def _unrecorded(carried: int) -> dict[str, Detail]:
    """The ``unrecorded`` detail: refusals of this source counted, not recorded, since its last entry."""
    return {"unrecorded": carried} if carried else {}


def _unavailable() -> Reply:
    return _error(503, "the audit log cannot be written, so no request is answered; try again later")


def _answer(prediction: Prediction, policy: OutputPolicy) -> dict[str, Any]:
    labels = list(prediction.labels)  # plain Python values already (the Predictor contract)
    if policy.labels_only:
        return {"predictions": labels}
    proba = prediction.proba.round(policy.digits).tolist()
    return {"predictions": labels, "probabilities": proba}
