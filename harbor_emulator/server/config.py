"""Every setting of a running emulator, its default and the env var that sets it."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4280
# text: one readable line per request and attempt; json: one object per line, for CI.
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True, slots=True)
class Config:
    """Built by the CLI (options, then `HARBOR_EMULATOR_<OPTION>` env vars) or by tests.

    `db_path=None` means a fresh state for this run only: a private temporary file that
    is removed at shutdown.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    db_path: str | None = None
    fixtures: tuple[str, ...] = field(default_factory=tuple)
    strict: bool = False
    # Requests per second per API key; burst equals the rate; 0 switches it off.
    rate_limit: float = 100.0
    control_token: str | None = None
    # Host names answered besides loopback and `host` ("*": any); see security.py.
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    log_level: str = "info"
    log_format: str = "text"
    max_endpoints: int = 50
    delivery_timeout_seconds: float = 10.0
    delivery_concurrency: int = 32
    # Time allowed for a live-mode URL's DNS lookup before it counts as not resolving.
    resolve_timeout_seconds: float = 2.0
    # Seeded mode (contract: Determinism): every id, secret and fault draw from this seed,
    # the clock frozen at `start_time` (default 2026-01-01T00:00:00Z) until told to move.
    seed: int | None = None
    # RFC 3339; the clock starts frozen here (also without a seed). None: host time, running.
    start_time: str | None = None
