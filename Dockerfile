# syntax=docker/dockerfile:1
# harbor-emulator as a CI service container: the one-file binary on a small Debian base.
#   docker build -t harbor-emulator .                     builds the binary in a build stage
#   scripts/build_binary && docker build --target prebuilt -t harbor-emulator .
#                                                          copies dist/harbor-emulator instead
#   docker run --rm -p 4280:4280 harbor-emulator
# State is fresh on each start; -e HARBOR_EMULATOR_DB=/data/state.db -v harbor-data:/data
# keeps it. Every `start` option has a HARBOR_EMULATOR_* variable. See docs/ci.md.
#
# BASE is any Debian bookworm (glibc 2.36) root file system; tests/test_docker_image.py
# passes one made with mmdebstrap and `podman import`, where no registry is reachable.
ARG BASE=debian:bookworm-slim
ARG BUILDER=python:3.11-slim-bookworm

# Build stage: PyInstaller on the same Debian release as the runtime, so the binary's glibc
# matches the base whatever machine runs `docker build`.
FROM ${BUILDER} AS build
# PyInstaller reads shared-library dependencies with objdump (binutils).
RUN apt-get update && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/build_binary

# Everything the service needs but the binary, shared by both ways of getting it.
FROM ${BASE} AS runtime
# /data is created and owned here so a named volume mounted on it inherits the owner and
# the unprivileged user can write its SQLite file.
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent \
        --shell /usr/sbin/nologin harbor \
    && mkdir /data && chown harbor:harbor /data
# --host 0.0.0.0: published ports and service names reach it; on a wildcard bind every Host
# is answered unless --allowed-host is given. Without a control token the start prints a
# warning, expected in a private CI network (set HARBOR_EMULATOR_CONTROL_TOKEN otherwise).
ENV HARBOR_EMULATOR_HOST=0.0.0.0 \
    HARBOR_EMULATOR_PORT=4280
USER harbor
WORKDIR /data
VOLUME /data
EXPOSE 4280
# The binary's own check (no curl in the image). It sends HARBOR_EMULATOR_CONTROL_TOKEN when
# one is set, since a control token guards /_control/health too. Each check unpacks the
# one-file binary (a second or two on a busy machine), hence the long timeout.
HEALTHCHECK --interval=5s --timeout=10s --start-period=10s --retries=3 \
    CMD ["harbor-emulator", "health", "--url", "http://127.0.0.1:4280"]
# Exec form: the server is PID 1 and gets `docker stop`'s SIGTERM itself (exit status 0).
CMD ["harbor-emulator", "start"]

# The binary from scripts/build_binary on the host (the tests use this one).
FROM runtime AS prebuilt
COPY --chmod=0755 dist/harbor-emulator /usr/local/bin/harbor-emulator

# Default: the binary from the build stage.
FROM runtime
COPY --from=build --chmod=0755 /src/dist/harbor-emulator /usr/local/bin/harbor-emulator
