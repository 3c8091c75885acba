"""For users' test suites: emulators inside the test process, golden files, the pytest plugin
(pytest_plugin.py, loaded through its entry point) and a throwaway container
(testcontainers.py, the `testcontainers` extra).

    from harbor_emulator.testing import EmulatorServer

    with EmulatorServer(strict=True, fixtures=["tests/harbor.yaml"]) as server:
        with server.client(api_key="hb_test_ci") as harbor:
            harbor.trigger("order.paid", {"order_id": "o_1"})

The names below are imported when first used: pytest loads the plugin, and with it this
package, in every run of a suite that has harbor-emulator installed, and a run that uses
none of its fixtures must not pay for the server (uvicorn, Starlette, the app).
"""

from __future__ import annotations

# Not `from typing import TYPE_CHECKING`: importing typing (and the re, collections and
# contextlib it pulls in) was most of this package's import, ~5-40 ms; type checkers
# read this name the same.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .golden import GOLDEN_IGNORED_HEADERS, GoldenFile, GoldenMismatch
    from .server import (
        DEFAULT_START_TIMEOUT_SECONDS,
        GRACEFUL_SHUTDOWN_SECONDS,
        EmulatorFactory,
        EmulatorServer,
        ServerStartError,
        ServerThread,
    )

_HOMES = {
    "GOLDEN_IGNORED_HEADERS": "golden",
    "GoldenFile": "golden",
    "GoldenMismatch": "golden",
    "DEFAULT_START_TIMEOUT_SECONDS": "server",
    "GRACEFUL_SHUTDOWN_SECONDS": "server",
    "EmulatorFactory": "server",
    "EmulatorServer": "server",
    "ServerStartError": "server",
    "ServerThread": "server",
}

__all__ = [
    "DEFAULT_START_TIMEOUT_SECONDS",
    "GOLDEN_IGNORED_HEADERS",
    "GRACEFUL_SHUTDOWN_SECONDS",
    "EmulatorFactory",
    "EmulatorServer",
    "GoldenFile",
    "GoldenMismatch",
    "ServerStartError",
    "ServerThread",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
