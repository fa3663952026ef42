"""Switching models while serving: a newly promoted production version replaces the one served.

A server that serves by stage (no ``--model``) checks the catalog every ``reload_interval``
seconds, and at once on ``SIGHUP``. A check lists the production versions (one ``model.read``
entry in the log) and, for each model whose production version is not the one served (a new
version, or a model promoted for the first time), loads it through the one gate with
:func:`~mlwarden.serve._loading.load_model`: decrypt, signature, scan, safe load, catalog binding,
a four-eyes approval, input schema, predictor (``model.serve`` entries, as at start-up). The load
runs on a worker thread, so the event loop goes on answering with the old version meanwhile.

Only a version that passed everything is switched in, by one assignment on the event loop's
thread (:meth:`Service.install <mlwarden.serve._service.Service.install>`): a request reads its
model once, when it is granted, and is answered wholly by that version; the old version retires
when its last request has been answered. So no request fails and none mixes versions.

Failures change nothing that is served:

* a version that fails any check is not switched in; the old one keeps serving. It is logged,
  recorded ``failed`` by the gate and counted (``mlwarden_model_reloads_total{outcome="refused"}``).
  Polls do not retry that same version (same number and SHA-256), so a bad version costs one
  attempt, not one every interval; ``SIGHUP`` retries it (after a missing approval was given, say);
* a model left with no production version (archived, with no successor) keeps being served, the
  last version that verified, with a warning in the log and ``outcome="unpromoted"``, once: a
  running server never stops answering for a model because of a stage change alone (to stop
  serving a model, restart the server without it);
* a check that cannot read the catalog is logged and counted (``model="-"``, ``outcome="error"``);
  the next one tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from typing import TYPE_CHECKING

from mlwarden.errors import MlwardenError
from mlwarden.serve._loading import load_model, production_versions

if TYPE_CHECKING:
    from mlwarden.serve._service import Service

__all__ = ["Reloader"]

log = logging.getLogger("mlwarden.serve")


class Reloader:
    """Checks for new production versions of ``service``'s models and switches them in."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._forced = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._sighup = False
        self._refused: dict[str, tuple[int, str]] = {}
        """Per model, the production version (number, SHA-256) that failed: polls do not retry it."""
        self._unpromoted: set[str] = set()
        """Models served with no production version any more (warned about once)."""

    @property
    def by_stage(self) -> bool:
        """Whether the server serves what is in production (no ``--model``): only then is there anything to check."""
        return not self._service.config.models

    def start(self) -> None:
        """On the event loop: the SIGHUP handler (main thread only) and, serving by stage, the checks."""
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGHUP, self.wake)
                self._sighup = True
        if self.by_stage and self._task is None:
            self._task = loop.create_task(self._run(), name="mlwarden-reload")

    def wake(self) -> None:
        """Check now (what SIGHUP does), retrying versions refused before."""
        if not self.by_stage:
            log.warning("SIGHUP: the versions named with --model are served as they are; nothing to check")
            return
        log.info("SIGHUP: checking for new production versions now")
        self._forced = True
        self._wake.set()

    async def stop(self) -> None:
        """Stop checking; a check in progress is finished first (its loads run on a thread)."""
        self._stopping = True
        if self._sighup:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup = False
        if self._task is not None:
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        interval = self._service.config.reload_interval
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval or None)
            self._wake.clear()
            if self._stopping:
                return
            forced, self._forced = self._forced, False
            try:
                await self.check(forced=forced)
            except Exception:  # a check must never end the checks
                log.exception("the check for new production versions failed")

    async def check(self, *, forced: bool = False) -> list[tuple[str, str]]:
        """One check: switch in every new production version that passes the gate.

        ``forced``: also retry versions refused before. Returns ``(model, outcome)`` for each
        model acted on: ``switched``, ``added``, ``refused``, ``unpromoted``, or ``("-", "error")``.
        """
        async with self._lock:
            return await self._check(forced)

    async def _check(self, forced: bool) -> list[tuple[str, str]]:
        service = self._service
        counted = service.metrics.reloads
        try:
            production = await asyncio.to_thread(production_versions, service.ws)
        except MlwardenError as exc:
            log.error("could not read the production versions: %s: %s", type(exc).__name__, exc)
            counted.labels("-", "error").inc()
            return [("-", "error")]
        outcomes: list[tuple[str, str]] = []
        for name, info in sorted(production.items()):
            self._unpromoted.discard(name)
            served = service.models.get(name)
            wanted = (info.version, info.sha256)
            if served is not None and (served.version, served.digest) == wanted:
                self._refused.pop(name, None)
                continue
            if not forced and self._refused.get(name) == wanted:
                continue
            try:
                new = await asyncio.to_thread(load_model, service.ws, service.config, name, info.version, by_stage=True)
            except MlwardenError as exc:
                outcome = "refused"
                self._refused[name] = wanted
                keeping = "" if served is None else f"; still serving {name}@{served.version}"
                log.error("not switching to %s: %s: %s%s", info.ref, type(exc).__name__, exc, keeping)
            except Exception:
                outcome = "refused"
                self._refused[name] = wanted
                log.exception("not switching to %s: building it failed", info.ref)
            else:
                self._refused.pop(name, None)
                old = service.install(new)
                outcome = "added" if old is None else "switched"
                how = "compiled" if new.predictor.compiled else "scikit-learn"
                was = "" if old is None else f", was {name}@{old.version}"
                log.info("serving %s@%d (sha256 %s, %s%s)", name, new.version, new.digest[:16], how, was)
            counted.labels(name, outcome).inc()
            outcomes.append((name, outcome))
        for name in sorted(set(service.models) - set(production)):
            if name in self._unpromoted:
                continue
            self._unpromoted.add(name)
            kept = service.models[name]
            log.warning(
                "%s has no version in stage production any more; still serving %s@%d, the last that verified "
                "(promote another version to switch; restart without it to stop serving it)",
                name,
                name,
                kept.version,
            )
            counted.labels(name, "unpromoted").inc()
            outcomes.append((name, "unpromoted"))
        return outcomes
