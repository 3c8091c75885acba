# syntax=docker/dockerfile:1
# harbor-emulator as a CI service container: the one-dir binary on glibc and nothing else.
#   docker build -t harbor-emulator .                     builds the binary in a build stage
#   scripts/build_binary --onedir && docker build --target prebuilt -t harbor-emulator .
#                                                          copies dist/harbor-emulator-onedir
#   docker run --rm -p 4280:4280 harbor-emulator
# State is fresh on each start; -e HARBOR_EMULATOR_DB=/data/state.db -v harbor-data:/data
# keeps it. Every `start` option has a HARBOR_EMULATOR_* variable. See docs/ci.md.
#
# BASE is any Debian bookworm (glibc 2.36) root file system with dpkg and tar; only its C
# and zlib libraries reach the image. tests/test_docker_image.py passes one made with mmdebstrap and
# `podman import`, where no registry is reachable.
ARG BASE=debian:bookworm-slim
ARG BUILDER=python:3.11-slim-bookworm

# Build stage: PyInstaller on the same Debian release as the runtime, so the binary's glibc
# matches the one copied below whatever machine runs `docker build`.
FROM ${BUILDER} AS build
# PyInstaller reads shared-library dependencies with objdump (binutils).
RUN apt-get update && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/build_binary --onedir

# The image's whole file system, assembled in /rootfs. PyInstaller bundles every library
# the binary needs except glibc's (libc, libm, libdl, libpthread, librt and the loader) and
# the zlib its bootloader links, so those come from libc6 and zlib1g, without glibc's iconv
# modules (gconv: Python has its own codecs).
# /etc/passwd names the unprivileged user; /data is its own, so a named volume mounted there
# inherits the owner; /tmp is for SQLite's and Python's temporary files.
FROM ${BASE} AS rootfs
RUN set -eu; \
    mkdir -p /rootfs/etc /rootfs/data /rootfs/tmp /rootfs/usr/local/bin; \
    dpkg -L libc6 zlib1g | grep -E '/[^/]+\.so(\.[0-9]+)*$' | grep -v /gconv/ > /tmp/libc6.list; \
    tar -cf - -T /tmp/libc6.list | tar -xf - -C /rootfs; \
    printf 'root:x:0:0:root:/root:/nonexistent\nharbor:x:10001:10001::/nonexistent:/nonexistent\n' \
        > /rootfs/etc/passwd; \
    printf 'root:x:0:\nharbor:x:10001:\n' > /rootfs/etc/group; \
    chown 10001:10001 /rootfs/data; \
    chmod 1777 /rootfs/tmp; \
    ln -s /opt/harbor-emulator/harbor-emulator /rootfs/usr/local/bin/harbor-emulator

# Everything the service needs but the binary, shared by both ways of getting it.
FROM scratch AS runtime
COPY --from=rootfs /rootfs/ /
# --host 0.0.0.0: published ports and service names reach it; on a wildcard bind every Host
# is answered unless --allowed-host is given. Without a control token the start prints a
# warning, expected in a private CI network (set HARBOR_EMULATOR_CONTROL_TOKEN otherwise).
ENV PATH=/usr/local/bin \
    HARBOR_EMULATOR_HOST=0.0.0.0 \
    HARBOR_EMULATOR_PORT=4280
USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 4280
# The binary's own check: there is no shell or curl in the image. It sends
# HARBOR_EMULATOR_CONTROL_TOKEN when one is set, since a control token guards
# /_control/health too.
HEALTHCHECK --interval=5s --timeout=5s --start-period=10s --retries=3 \
    CMD ["harbor-emulator", "health", "--url", "http://127.0.0.1:4280"]
# Exec form: the server is PID 1 and gets `docker stop`'s SIGTERM itself (exit status 0).
CMD ["harbor-emulator", "start"]

# The binary from `scripts/build_binary --onedir` on the host (the tests use this one).
FROM runtime AS prebuilt
COPY dist/harbor-emulator-onedir /opt/harbor-emulator
# Fail the build, not the first container, when the image lacks a library the binary needs.
RUN ["harbor-emulator", "--version"]

# Default: the binary from the build stage.
FROM runtime
COPY --from=build /src/dist/harbor-emulator-onedir /opt/harbor-emulator
RUN ["harbor-emulator", "--version"]
