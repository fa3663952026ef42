# mlwarden's inference server (`mlwarden serve`) in a small image: pinned dependencies checked by hash,
# a non-root user, nothing written outside /data (the workspace volume) and /tmp, so that it runs with
# a read-only root filesystem. No key, passphrase or token is in the image: they come at run time.
#
#   docker build -t mlwarden .
#   docker run --rm --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
#       -v mlwarden-data:/data --env-file mlwarden.env -p 127.0.0.1:8080:8080 mlwarden
#
# docs/deploy.md explains the set-up (workspace, secrets, reverse proxy and TLS, upgrades).
# The dependencies are docker/requirements.lock (regenerate it as its header says).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a wheel of mlwarden from this checkout -------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The build backend pinned too (pyproject.toml asks for setuptools>=77).
RUN python -m pip install "setuptools==84.2.1"
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# --- runtime ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG MLWARDEN_UID=10001
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/mlwarden/bin:$PATH \
    MLWARDEN_HOME=/data \
    HOME=/tmp \
    TMPDIR=/tmp

# Every dependency is installed from the lock with its hashes checked, then mlwarden's own wheel without
# dependencies: pip resolves nothing and downloads nothing the lock does not name. Bytecode is compiled
# at install time, as the running container cannot write it.
COPY docker/requirements.lock /tmp/requirements.lock
COPY --from=build /wheels/ /tmp/wheels/
RUN python -m venv /opt/mlwarden \
    && /opt/mlwarden/bin/pip install --no-deps --require-hashes -r /tmp/requirements.lock \
    && /opt/mlwarden/bin/pip install --no-deps /tmp/wheels/mlwarden-*.whl \
    && /opt/mlwarden/bin/pip check \
    && rm -rf /tmp/requirements.lock /tmp/wheels \
    && groupadd --system --gid "${MLWARDEN_UID}" mlwarden \
    && useradd --system --uid "${MLWARDEN_UID}" --gid "${MLWARDEN_UID}" --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin mlwarden \
    && mkdir -p /data \
    && chown "${MLWARDEN_UID}:${MLWARDEN_UID}" /data \
    && chmod 0700 /data

# The workspace (encrypted objects, catalog, audit log, wrapped keys): a named volume or a bind mount owned
# by uid 10001. Create it once with `docker run ... --entrypoint mlwarden mlwarden init`.
VOLUME ["/data"]
USER ${MLWARDEN_UID}:${MLWARDEN_UID}
WORKDIR /data
EXPOSE 8080

# Liveness through /healthz on loopback (no curl in the image): plain HTTP, or HTTPS when the server was
# started with --tls-cert/--tls-key (certificate not checked: it is our own server on 127.0.0.1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import ssl, sys, urllib.request as u\nfor url in ('http://127.0.0.1:8080/healthz', 'https://127.0.0.1:8080/healthz'):\n    try:\n        ok = u.urlopen(url, timeout=4, context=ssl._create_unverified_context() if url[4] == 's' else None).status == 200\n    except Exception:\n        continue\n    sys.exit(0 if ok else 1)\nsys.exit(1)"]

# Extra arguments (`docker run IMAGE --workers 2 --tls-cert ...`) are appended to these. Keep port 8080
# inside the container (map it with -p): the health check knows no other.
ENTRYPOINT ["mlwarden", "serve", "--host", "0.0.0.0", "--port", "8080"]
