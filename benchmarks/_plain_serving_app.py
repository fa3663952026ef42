"""The baseline of ``benchmarks/serving.py``: the prediction endpoint people write today.

Plain FastAPI around a fitted scikit-learn pipeline: a pydantic body ``{"instances": [{...}, ...]}``,
a ``pandas.DataFrame`` built from the instances, ``predict_proba`` and ``predict`` on it, JSON
back. No authentication, no validation beyond the body's shape, no audit, no limits. A sync
``def`` handler, as FastAPI's docs advise for blocking work (it runs in the thread pool).

The model is the same one ``mlwarden serve`` answers with: the file ``mlwarden model export``
wrote, named by ``BENCH_MODEL`` (its signature beside it) and loaded once at start-up through
``mlwarden.models.load`` with the public key in ``BENCH_PUBLIC_KEY``; the load is outside every
measurement, and the object is the very pipeline ``mlwarden train`` fitted.

Run it (``benchmarks/serving.py`` does) with::

    BENCH_MODEL=export/credit-risk.skops BENCH_PUBLIC_KEY=signer.pem \\
        .venv/bin/python -m uvicorn --app-dir benchmarks _plain_serving_app:app --port 8000
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

from mlwarden import models

pipeline: Any = models.load(os.environ["BENCH_MODEL"], public_key=os.environ["BENCH_PUBLIC_KEY"])

app = FastAPI(title="plain credit-risk endpoint")


class PredictRequest(BaseModel):
    instances: list[dict[str, Any]]


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
def predict(request: PredictRequest) -> dict[str, Any]:
    frame = pd.DataFrame(request.instances)
    probabilities = pipeline.predict_proba(frame)
    predictions = pipeline.predict(frame)
    return {
        "predictions": predictions.tolist(),
        "probabilities": probabilities.tolist(),
        "classes": pipeline.classes_.tolist(),
    }
