# syntax=docker/dockerfile:1
# The Twilio Conversations emulator in a container:
#   docker build -t twilio-emulator . && docker run -p 8080:8080 -v emulator-data:/data twilio-emulator
# Any arguments after the image name are passed on as flags, e.g. `... twilio-emulator --auth-mode strict`.
# With `--proxy-port 8899` (or TWILIO_EMULATOR_PROXY_PORT=8899) and `-p 8899:8899`, the intercepting proxy
# runs beside it, its CA kept in the volume (/data/proxy).

# --- build: install the project and its dependencies into a virtualenv -------------------------------------
FROM python:3.12-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv

WORKDIR /src
# Only what the wheel is built from: pyproject names README.md as the readme, packages app/ as
# twilio_conversations_emulator, and force-includes fixtures/ as its _shipped_fixtures.
COPY pyproject.toml README.md ./
COPY app ./app
COPY fixtures ./fixtures
# With the `proxy` extra (mitmproxy), for `serve --proxy-port`.
RUN /opt/venv/bin/pip install --no-cache-dir ".[proxy]"

# --- runtime: the virtualenv only, run by an unprivileged user --------------------------------------------
FROM python:3.12-slim

LABEL org.opencontainers.image.title="twilio-conversations-emulator" \
      org.opencontainers.image.description="A local emulator of Twilio's Conversations API" \
      org.opencontainers.image.licenses="MIT"

ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TWILIO_EMULATOR_HOST=0.0.0.0 \
    TWILIO_EMULATOR_PORT=8080 \
    TWILIO_EMULATOR_DATABASE_URL=sqlite:////data/emulator.db \
    TWILIO_EMULATOR_PROXY_HOST=0.0.0.0 \
    TWILIO_EMULATOR_PROXY_CA_DIR=/data/proxy

# /data is created and handed to the user before VOLUME, so a new named volume starts out owned by it.
RUN groupadd --system --gid 10001 emulator \
    && useradd --system --uid 10001 --gid emulator --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin emulator \
    && mkdir -p /data \
    && chown emulator:emulator /data

COPY --from=build /opt/venv /opt/venv

# Numeric, so that orchestrators (e.g. Kubernetes runAsNonRoot) can tell it is not root.
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080 8899

# No curl in slim images: python's urllib. urlopen raises (exit 1) on a refused connection or a non-2xx.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/_emulator/health', timeout=4).close()"]

ENTRYPOINT ["twilio-emulator", "serve"]
