"""The listening socket: bound before the server starts, so a taken port is one clear line
(and `--port 0` tells its real port before uvicorn runs)."""

from __future__ import annotations

import errno
import socket


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound as uvicorn would bind it (IPv6 when the host has a colon)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def bind_problem(host: str, port: int, exc: OSError) -> str:
    """Why `bind_socket` failed and what to pass instead, in one line."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another harbor-emulator?): "
            "pass --port 0 to pick a free port, or another --port"
        )
    if exc.errno == errno.EACCES:
        return f"no permission to listen on {where}: pass --port 0, or a port above 1023"
    reason = exc.strerror or str(exc)
    return (
        f"cannot listen on {where} ({reason}): pass --host 127.0.0.1 or an address of this machine"
    )
