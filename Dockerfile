# syntax=docker/dockerfile:1
# harbor-emulator as a CI service container.
#   docker build -t harbor-emulator .
#   docker run --rm -p 4280:4280 harbor-emulator
# State is fresh on each start. To keep it across restarts, mount /data and pass --db:
#   docker run --rm -p 4280:4280 -v harbor-data:/data harbor-emulator \
#     harbor-emulator start --host 0.0.0.0 --port 4280 --db /data/state.db
# (or set HARBOR_EMULATOR_DB=/data/state.db). See docs/ci.md.

# Stage 1: build wheels for the project and its dependencies; the source stays here.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels .

# Stage 2: only the installed wheels, run as an unprivileged user.
FROM python:3.11-slim
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels harbor-emulator
# /data is created and owned here so a named volume mounted on it inherits the owner and
# the unprivileged user can write its SQLite file.
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin harbor \
    && mkdir /data && chown harbor:harbor /data
USER harbor
WORKDIR /data
VOLUME /data
EXPOSE 4280
# python's urllib, not curl: the slim image has no curl. Sends the control token when one
# is set through the environment, since --control-token guards /_control/health too.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; t = os.environ.get('HARBOR_EMULATOR_CONTROL_TOKEN'); r = u.Request('http://127.0.0.1:4280/_control/health', headers={'Authorization': 'Bearer ' + t} if t else {}); u.urlopen(r, timeout=2)"]
# Exec form, so the server is PID 1 and gets `docker stop`'s SIGTERM itself.
CMD ["harbor-emulator", "start", "--host", "0.0.0.0", "--port", "4280"]
