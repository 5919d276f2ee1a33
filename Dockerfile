# One image for every Python service of docker-compose.yml (gateway, legacy, oidc).
# BASE_IMAGE: any image with Python 3.12+ whose `python` and `pip` are on PATH. The
# test suite passes one built from Debian packages (tests/deploy/docker_engine.py).
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 1000 app \
    && mkdir -p /data \
    && chown app /data

WORKDIR /app
# Dependencies first, as pyproject.toml declares them (the toolkit's and the `demo`
# extra's: the reference apps and the development identity provider): this layer is
# rebuilt only when pyproject.toml changes, not on every change to the code.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*p['dependencies'], *p['optional-dependencies']['demo'], sep='\n')" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
# The toolkit as `pip install .` ships it (gateway, shared_session, flask_compat), and
# the reference apps, which pip does not install: the services import them from /app,
# the working directory, on PYTHONPATH. Every top-level package of the repository that
# pyproject ships or a compose service imports has its line here:
# tests/gateway/test_compose.py fails naming any one that is missing.
ENV PYTHONPATH=/app
COPY shared_session ./shared_session
COPY gateway ./gateway
COPY notes_core ./notes_core
COPY legacy_flask ./legacy_flask
COPY new_fastapi ./new_fastapi
COPY flask_compat ./flask_compat
RUN pip install --no-deps . && rm -rf build ./*.egg-info

USER app
# /data: the notes database and the gateway's flag cache, on the volume compose
# mounts there for legacy and gateway. No VOLUME: every container of a service
# that mounts nothing there (oidc) would get an anonymous volume that
# `docker compose down --volumes` leaves behind.
# 8000 public (gateway), 8081 admin API (gateway), 8001 legacy, 9400 development OIDC provider.
EXPOSE 8000 8001 8081 9400

CMD ["gunicorn", "-k", "uvicorn_worker.UvicornWorker", "--no-control-socket", \
     "--bind", "0.0.0.0:8000", "gateway.app:create_gateway()"]
