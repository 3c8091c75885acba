"""Emulators inside the test process: uvicorn in a background thread, fresh state, free port.

    from harbor_emulator.testing import EmulatorServer

    with EmulatorServer(strict=True, fixtures=["tests/harbor.yaml"]) as server:
        with server.client(api_key="hb_test_ci") as harbor:
            harbor.trigger("order.paid", {"order_id": "o_1"})

The pytest plugin (pytest_plugin.py) is built on this module. Nothing here runs
at import: a server starts when `start()` (or `with`) is called, and `stop()` ends its thread,
closes its sockets and removes its state.

`ServerThread` serves any ASGI app the same way, e.g. your own webhook handler, so the
emulator can deliver to it over real HTTP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..client import Emulator
from ..server.app import create_app
from ..server.config import DEFAULT_HOST, Config
from ..server.sockets import bind_socket

DEFAULT_START_TIMEOUT_SECONDS = 30.0
# uvicorn checks for shutdown every 0.1 s and then closes idle connections; a request still
# running after this long (a drain, a slow receiver) is cancelled rather than waited for.
GRACEFUL_SHUTDOWN_SECONDS = 5

# A fixtures document given inline, or the path of a YAML or JSON file.
FixturesSource = Mapping[str, Any] | str | os.PathLike[str]


class ServerStartError(RuntimeError):
    """The server did not come up: its lifespan failed (e.g. invalid fixtures) or timed out."""


class _Server(uvicorn.Server):
    """uvicorn's server, telling the starting thread when it is ready or gave up."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.settled = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.settled.set()


class _StartupWatch:
    """Keeps the app's own startup failure message, which uvicorn only logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.failure: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def watched_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                self.failure = str(message.get("message") or "")
            await send(message)

        await self.app(scope, receive, watched_send)


class ServerThread:
    """An ASGI app served by uvicorn in a daemon thread of this process, as httpx's tests do.

    `start()` returns the URL once the app's lifespan has finished and the socket listens;
    `stop()` shuts uvicorn down gracefully and joins the thread. Usable once.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        log_level: str = "warning",
        lifespan: str = "auto",
        sock: socket.socket | None = None,
        date_header: bool = True,
    ) -> None:
        """`lifespan="on"` for apps that cannot serve without their startup (the emulator);
        "auto" also serves apps that do not speak the lifespan protocol. `sock`: a socket
        already bound (so the port is known before the app starts), served instead of
        binding `host` and `port`. `date_header=False` leaves the Date header to the app
        (the emulator sets its own: emulator time in seeded mode)."""
        self._watch = _StartupWatch(app)
        self._sock = sock
        self.server = _Server(
            uvicorn.Config(
                self._watch,
                host=host,
                port=port,
                lifespan=lifespan,
                interface="asgi3",
                log_level=log_level,
                # None leaves the host process's logging alone; uvicorn's records still
                # propagate to the root logger, where pytest captures them.
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                date_header=date_header,
            )
        )
        self._thread = threading.Thread(target=self._serve, name="harbor-uvicorn", daemon=True)
        self._url: str | None = None
        self._started = False

    def _serve(self) -> None:
        # uvicorn exits the process this way when the app's startup fails; in a thread that
        # would only be an unhandled thread exception. start() reports the failure instead.
        with contextlib.suppress(SystemExit):
            self.server.run(sockets=None if self._sock is None else [self._sock])

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the server is not running: call start() first")
        return self._url

    def start(self, timeout: float = DEFAULT_START_TIMEOUT_SECONDS) -> str:
        if self._started:
            raise RuntimeError("a ServerThread starts once; make a new one")
        self._started = True
        self._thread.start()
        deadline = time.monotonic() + timeout
        # `settled` is set when startup ends, whether the server listens or gave up.
        while not self.server.settled.wait(0.01):
            if not self._thread.is_alive():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"the server did not start within {timeout} s")
        if not self.server.started:
            self._thread.join(timeout)
            raise ServerStartError(_failure_summary(self._watch.failure))
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown}:{port}"
        return self._url

    def stop(self, timeout: float = DEFAULT_START_TIMEOUT_SECONDS) -> None:
        """Stop serving and wait for the thread; safe to call twice or before start()."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"the server thread did not stop within {timeout} s")
        self._url = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _failure_summary(failure: str | None) -> str:
    if not failure:
        return "the server stopped during startup (see the log)"
    # Starlette sends the whole traceback; its last line is the exception itself.
    lines = [line for line in failure.strip().splitlines() if line.strip()]
    return f"the server failed to start: {lines[-1].strip()}"


class EmulatorServer:
    """A Harbor emulator in this process, with a fresh state of its own.

    Keyword arguments are `Config` fields (`strict=True`, `rate_limit=0`,
    `control_token="t"`, `delivery_timeout_seconds=1`, ...). `fixtures` takes file paths
    and inline documents (dicts) alike; all of them are loaded at start and again after
    every reset, in order. `port` defaults to 0 (a free port) and `db_path` to None (a
    private state removed at stop).
    """

    def __init__(self, *, fixtures: Iterable[FixturesSource] = (), **config: Any) -> None:
        self._fixtures = list(fixtures)
        config.setdefault("port", 0)
        # Fails now, on a misspelt option, rather than in the server thread.
        self._base_config = dataclasses.replace(Config(), **config)
        # What the running server uses: the base plus inline fixtures written to files.
        self.config = self._base_config
        self._fixtures_dir: str | None = None
        self._thread: ServerThread | None = None

    @property
    def url(self) -> str:
        if self._thread is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._thread.url

    def start(self, timeout: float = DEFAULT_START_TIMEOUT_SECONDS) -> str:
        """Serve and return the URL once the emulator answers requests."""
        if self._thread is not None:
            raise RuntimeError("this emulator is already running")
        # Bound first, so the config carries the real port before the app starts: fixtures'
        # ${HARBOR_EMULATOR_URL} is built from it.
        sock = bind_socket(self.config.host, self._base_config.port)
        config = dataclasses.replace(
            self.config, port=sock.getsockname()[1], fixtures=self._fixture_files()
        )
        thread = ServerThread(
            create_app(config),
            host=config.host,
            port=config.port,
            lifespan="on",
            sock=sock,
            date_header=False,
        )
        try:
            url = thread.start(timeout)
        except BaseException:
            sock.close()
            self._remove_fixtures_dir()
            raise
        # The config as given (port 0 stays "a free port" for the next start).
        self.config = dataclasses.replace(config, port=self._base_config.port)
        self._thread = thread
        return url

    def stop(self, timeout: float = DEFAULT_START_TIMEOUT_SECONDS) -> None:
        """Stop serving; the state goes with it (unless `db_path` was given)."""
        thread, self._thread = self._thread, None
        try:
            if thread is not None:
                thread.stop(timeout)
        finally:
            self._remove_fixtures_dir()

    def client(self, api_key: str | None = None) -> Emulator:
        """A client of this emulator, with its control token; close it when done."""
        return Emulator(self.url, control_token=self.config.control_token, api_key=api_key)

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _fixture_files(self) -> tuple[str, ...]:
        """Paths for Config.fixtures; inline documents are written to files so that
        every reset loads them again, exactly as it does files given with --fixtures."""
        files = list(self._base_config.fixtures)
        for index, source in enumerate(self._fixtures):
            if isinstance(source, Mapping):
                if self._fixtures_dir is None:
                    self._fixtures_dir = tempfile.mkdtemp(prefix="harbor-fixtures-")
                # The loader's errors name the file: say which argument it came from.
                path = Path(self._fixtures_dir, f"fixtures[{index}].json")
                path.write_text(json.dumps(dict(source)), encoding="utf-8")
                files.append(str(path))
            else:
                files.append(os.fspath(source))
        return tuple(files)

    def _remove_fixtures_dir(self) -> None:
        if self._fixtures_dir is not None:
            shutil.rmtree(self._fixtures_dir, ignore_errors=True)
            self._fixtures_dir = None


class EmulatorFactory:
    """Starts emulators on demand and stops them all at `close()`: `harbor_factory`'s engine.

    Each call starts a new emulator and returns a client of it that already carries its
    control token and `api_key` (default: `default_api_key`).
    """

    def __init__(self, default_api_key: str) -> None:
        self.default_api_key = default_api_key
        self._running: list[tuple[EmulatorServer, Emulator]] = []

    def __call__(
        self,
        *,
        strict: bool = False,
        fixtures: Iterable[FixturesSource] = (),
        rate_limit: float | None = None,
        control_token: str | None = None,
        api_key: str | None = None,
        **config: Any,
    ) -> Emulator:
        """`rate_limit`: requests/s per key, 0 = off, None = Harbor's default (100)."""
        if rate_limit is not None:
            config["rate_limit"] = rate_limit
        server = EmulatorServer(
            strict=strict, fixtures=fixtures, control_token=control_token, **config
        )
        server.start()
        client = server.client(api_key or self.default_api_key)
        self._running.append((server, client))
        return client

    def server_of(self, emulator: Emulator) -> EmulatorServer:
        """The server behind a client this factory returned (its `config`, `stop()`)."""
        for server, client in self._running:
            if client is emulator:
                return server
        raise ValueError("this emulator was not started by this factory")

    def stop(self, emulator: Emulator) -> None:
        """Stop one emulator before the others, e.g. to test what your code does when
        Harbor is unreachable."""
        server = self.server_of(emulator)
        self._running = [pair for pair in self._running if pair[1] is not emulator]
        emulator.close()
        server.stop()

    def close(self) -> None:
        running, self._running = self._running, []
        errors: list[BaseException] = []
        for server, client in running:
            client.close()
            try:
                server.stop()
            except Exception as exc:  # stop the rest, then report
                errors.append(exc)
        if errors:
            raise errors[0]
