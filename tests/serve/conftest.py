"""Fixtures for the server's tests: one trained workspace per test process, and in-process clients.

``served`` is a workspace (env master key) holding the German credit data and two models trained
on it (by the admin), approved by a reviewer (four eyes) and promoted to production:
``credit-risk`` (logistic) and ``fraud-risk`` (logistic, another seed). Its principals cover the
grant matrix: clients scoped to ``credit-*``, ``fraud-*`` and ``*``, and one of every other role.
Tests that change principals (revoke, suspend) add their own.

``app_client(service)`` drives the FastAPI app in-process through httpx's ASGI transport, so no
port is opened; the TLS and multi-process tests start a real ``mlwarden serve``.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mlwarden
from mlwarden.config import Settings
from mlwarden.usecases import german_credit_csv

Workspace = mlwarden.Workspace
ROLES = (
    "admin",
    "steward",
    "scientist",
    "deployer",
    "reviewer",
    "privacy-officer",
    "auditor",
    "client",
    "explained-client",
)


@dataclasses.dataclass(frozen=True)
class Served:
    settings: Settings
    tokens: dict[str, str]  # principal name -> token
    rows: list[dict[str, Any]]  # feature rows of the credit data, typed as the schema wants

    def open(self, token: str | None = None) -> mlwarden.Workspace:
        return Workspace.open(settings=self.settings, token=token)

    def copy(self, to: Path) -> Served:
        shutil.copytree(self.settings.home, to)
        return dataclasses.replace(self, settings=dataclasses.replace(self.settings, home=to), tokens=dict(self.tokens))


def credit_rows(limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of the credit CSV without the target, numbers as numbers (what a client sends)."""
    with open(german_credit_csv(), newline="") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for raw in reader:
            row: dict[str, Any] = {}
            for key, value in raw.items():
                if key == "creditability":
                    continue
                try:
                    row[key] = int(value)
                except ValueError:
                    row[key] = value
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    return rows


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    home = tmp_path_factory.mktemp("served") / "ws"
    settings = Settings(home=home, master_key=base64.b64encode(os.urandom(32)).decode())
    tokens: dict[str, str] = {}
    with Workspace.init(settings=settings, key_source="env") as ws:
        ws.datasets.put(german_credit_csv(), name="credit-german")
        trained = [
            ws.models.train(name, "credit-german", "creditability", estimator="logistic", seed=seed)
            for name, seed in (("credit-risk", 0), ("fraud-risk", 1))
        ]
        for role in ROLES:
            _, tokens[role] = ws.users.add(f"a-{role}", role)
        _, tokens["client-credit"] = ws.users.add("c-credit", "client", scopes=("credit-*",))
        _, tokens["client-fraud"] = ws.users.add("c-fraud", "client", scopes=("fraud-*",))
        _, tokens["client-all"] = ws.users.add("c-all", "client", scopes=("*",))
        _, tokens["explained-credit"] = ws.users.add("e-credit", "explained-client", scopes=("credit-*",))
        _, tokens["operator"] = ws.users.add("op", "deployer")
        # Four eyes: the admin trained them, a reviewer approves, then they may go to production.
        with Workspace.open(settings=settings, token=tokens["reviewer"]) as reviewer:
            for version in trained:
                reviewer.models.approve(version.name, version.version)
        for version in trained:
            ws.models.promote(version.name, version.version, "production")
    return Served(settings, tokens, credit_rows(200))


@pytest.fixture
def served_copy(served: Served, tmp_path: Path) -> Served:
    """A private copy of ``served``, for tests that change principals, models or the log."""
    return served.copy(tmp_path / "ws")


@pytest.fixture
def service_factory() -> Iterator[Any]:
    """``make(served, **config)`` -> a started :class:`~mlwarden.serve.Service` (closed after the test)."""
    from mlwarden.serve import ServeConfig, Service

    opened: list[mlwarden.Workspace] = []

    def make(where: Served, *, token: str | None = None, **options: Any) -> Service:
        ws = where.open(token or where.tokens["operator"])
        opened.append(ws)
        # Tests count audit entries: every refusal is recorded unless a test sets a budget itself.
        options.setdefault("refusals_per_minute", 10_000_000)
        # Nor do they want a catalog check (one model.read entry) every 10 s; tests/serve/test_switch.py checks.
        options.setdefault("reload_interval", 0)
        return Service.start(ServeConfig(**options), ws)

    yield make
    for ws in opened:
        ws.close()


@pytest.fixture
def app_client() -> Iterator[Any]:
    """``connect(service)`` -> a sync test client of the app (the app runs on its own event-loop thread)."""
    from fastapi.testclient import TestClient

    from mlwarden.serve import create_app

    clients: list[TestClient] = []

    def connect(service: Any) -> TestClient:
        client = TestClient(create_app(service, close_on_shutdown=False), base_url="http://mlwarden.test")
        client.__enter__()
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.__exit__(None, None, None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
