# One image for every Python service of docker-compose.yml (gateway, legacy, oidc).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared_session ./shared_session
COPY gateway ./gateway
COPY legacy_flask ./legacy_flask
COPY new_fastapi ./new_fastapi
RUN pip install . \
    && useradd --create-home --uid 1000 app \
    && mkdir -p /data \
    && chown app /data

USER app
# Notes database and the gateway's flag cache, shared by legacy and gateway.
VOLUME ["/data"]
EXPOSE 8000 8001 9400

CMD ["gunicorn", "-k", "uvicorn_worker.UvicornWorker", "--no-control-socket", \
     "--bind", "0.0.0.0:8000", "gateway.app:create_gateway()"]
