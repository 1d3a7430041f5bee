# CareRTC server image.
#
#   docker build -t carertc .
#   docker run --network host -v carertc-data:/data \
#       -e CARERTC_AUTH_ADMIN_NAME=admin -e CARERTC_AUTH_ADMIN_PASSWORD=change-me carertc
#
# Media flows over UDP on ephemeral ports chosen by aiortc/aioice, so run with
# host networking (or give clients a TURN server via CARERTC_MEDIA_ICE_SERVERS).
# Browsers only grant camera/microphone on https:// (or localhost): put a TLS
# proxy in front and set CARERTC_SERVER_PUBLIC_URL. Every setting is an
# environment variable (see carertc/config.py); DATABASE_URL / REDIS_URL select
# PostgreSQL / Redis instead of the embedded SQLite default under /data.

# --- the web client's npm packages (socket.io-client, served by the server)
FROM node:20-slim AS webdeps
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- the server
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CARERTC_DATA_DIR=/data \
    CARERTC_SERVER_HOST=0.0.0.0 \
    CARERTC_SERVER_PORT=8080

RUN groupadd --system carertc && useradd --system --gid carertc --home-dir /app carertc \
    && mkdir -p /data && chown carertc:carertc /data
# Chinese names under the composite's tiles (recordings and the composite view)
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY . .
COPY --from=webdeps /web/node_modules ./web/node_modules
# Editable install: the web client's pages and static files are served from
# the source tree, so the packages are run from /app rather than copied.
RUN pip install --no-deps -e . && python -c "import carertc.app, carertc.cli"

USER carertc
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('CARERTC_SERVER_PORT', '8080'), timeout=4)" || exit 1
STOPSIGNAL SIGTERM
CMD ["carertc", "serve"]
