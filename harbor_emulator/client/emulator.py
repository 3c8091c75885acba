"""`Emulator`: a running emulator's control API and the /v1 calls tests make."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

from .controls import ClockControl, FaultControl, Sink, SnapshotControl, segment
from .errors import EmulatorUnreachable, HarborAPIError, api_error, poll_until_reachable
from .reports import ReceiverCheckReport

DEFAULT_URL = "http://127.0.0.1:4280"
YAML_MEDIA_TYPE = "application/yaml"


class Emulator:
    """A running emulator. `control_token` is sent to /_control, `api_key` to /v1."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        control_token: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.control_token = control_token
        self.api_key = api_key
        # Imported here, not at the top: the CLI and the pytest plugin import this module
        # in processes that never send a request (`harbor-emulator start`, a test run that
        # uses no emulator), and httpx costs them ~25-60 ms.
        import httpx

        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)
        self.clock = ClockControl(self)
        self.faults = FaultControl(self)
        self.snapshots = SnapshotControl(self)

    # -- plumbing ------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        expect_json: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Send one request; /_control gets the control token, anything else `key`
        (default: the client's `api_key`)."""
        token = self.control_token if path.startswith("/_control") else (key or self.api_key)
        if token:
            kwargs["headers"] = {"Authorization": f"Bearer {token}", **kwargs.get("headers", {})}
        import httpx  # loaded by __init__ already: a dictionary lookup

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            # Connection refused, reset or timed out: no answer to turn into an error body.
            raise EmulatorUnreachable(self.url, str(exc) or type(exc).__name__) from None
        if response.is_error:
            raise api_error(response)
        if not expect_json or response.status_code == 204:
            return None
        return response.json()

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, f"/_control{path}", **kwargs)

    def _key(self, key: str | None) -> str:
        chosen = key or self.api_key
        if not chosen:
            raise ValueError("This call uses the /v1 API: pass key= or Emulator(api_key=...).")
        return chosen

    # -- control API ---------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.control("GET", "/health")

    def wait_healthy(self, timeout: float = 10.0) -> dict[str, Any]:
        """Poll /_control/health until it answers; raise EmulatorUnreachable after `timeout`."""
        return poll_until_reachable(self.health, timeout)

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        """Empty state; `seed` enters seeded mode (same requests, same bytes)."""
        return self.control("POST", "/reset", json=None if seed is None else {"seed": seed})

    def load_fixtures(
        self,
        fixtures: Mapping[str, Any] | str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
    ) -> Any:
        """Load a fixtures document: a dict (sent as JSON) or a .json/.yaml/.yml file.

        A file is read here, so its `${NAME}` come from this process's environment (or
        `env`) and `${HARBOR_EMULATOR_URL}` is this client's URL (contract: Fixtures); the
        server only fills in its own URL and defaults in what it is sent.
        """
        from ..core.errors import HarborError
        from ..core.fixture_documents import escape, interpolate

        if isinstance(fixtures, Mapping):
            return self.control("POST", "/fixtures", json=dict(fixtures))
        path = Path(fixtures)
        try:
            document = interpolate(
                path.read_bytes(),
                os.environ if env is None else env,
                self.url,
                source=str(path),
                yaml_syntax=path.suffix.lower() in (".yaml", ".yml"),
            )
        except HarborError as exc:
            raise HarborAPIError(exc.status, exc.code, exc.message, exc.param) from None
        # Escaped, so the server's own pass leaves what we resolved (and literal $${) alone.
        return self.control("POST", "/fixtures", json=escape(document))

    def export(self) -> dict[str, Any]:
        return self.control("GET", "/export")

    def drain(self, timeout_seconds: float = 10.0) -> dict[str, Any]:
        """Wait until no delivery attempt is due or in flight: `{"drained", "pending"}`."""
        return self.control(
            "POST",
            "/deliveries/drain",
            json={"timeout_seconds": timeout_seconds},
            # The server may hold the request for timeout_seconds; leave room to answer.
            timeout=timeout_seconds + 10,
        )

    def check_receiver(
        self,
        url: str,
        secret: str,
        *,
        event_type: str | None = None,
        payload: Any = None,
        timeout: float = 300.0,
    ) -> ReceiverCheckReport:
        """Run the receiver check against `url` (POST /_control/receiver-checks): deliveries
        built like real ones, some a ready receiver accepts and some it must refuse."""
        body: dict[str, Any] = {"url": url, "secret": secret}
        if event_type is not None:
            body["event_type"] = event_type
        if payload is not None:
            body["payload"] = payload
        # Each of the eleven checks may take up to the delivery timeout.
        report = self.control("POST", "/receiver-checks", json=body, timeout=timeout)
        return ReceiverCheckReport.from_json(report)

    def sink(self, name: str) -> Sink:
        return Sink(self, name)

    def delivery_with_attempts(self, delivery_id: str) -> dict[str, Any]:
        """Any workspace's delivery with its `last_attempt` and `attempts` (newest first, up
        to 100), each with `error_detail`: the cause of a failure in words."""
        return self.control("GET", f"/deliveries/{segment(delivery_id)}")

    def attempts_after(
        self, sequence: int | str = "latest", *, endpoint_id: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        """Attempts recorded after `sequence` ("latest": none, only `latest_sequence` to poll
        from), oldest first, each with its `sequence` and its delivery's event and endpoint."""
        params: dict[str, Any] = {"after_sequence": sequence, "limit": limit}
        if endpoint_id is not None:
            kind = "destination_id" if endpoint_id.startswith("dest_") else "webhook_id"
            params[kind] = endpoint_id
        return self.control("GET", "/attempts", params=params)

    # -- /v1 -------------------------------------------------------------------------
    def trigger(
        self,
        event_type: str,
        data: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        workspace_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Create an event (POST /v1/events) and return it."""
        body: dict[str, Any] = {"type": event_type, "payload": dict(data or {})}
        if workspace_id is not None:
            body["workspace_id"] = workspace_id
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self.request("POST", "/v1/events", key=self._key(key), json=body, headers=headers)

    def events(self, *, key: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """One page of GET /v1/events, newest first; filters: type, workspace_id, limit,
        cursor."""
        return self._page("/v1/events", key, filters)

    def deliveries(self, *, key: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """One page of GET /v1/deliveries, newest first; filters: status, event_id,
        webhook_id, destination_id, workspace_id, limit, cursor."""
        return self._page("/v1/deliveries", key, filters)

    def delivery(self, delivery_id: str, *, key: str | None = None) -> dict[str, Any]:
        return self.request("GET", f"/v1/deliveries/{segment(delivery_id)}", key=self._key(key))

    def attempts(self, delivery_id: str, *, key: str | None = None) -> list[dict[str, Any]]:
        """The delivery's attempts, newest first (up to 100): response code, error, body excerpt."""
        path = f"/v1/deliveries/{segment(delivery_id)}/attempts"
        return self._page(path, key, {"limit": 100})

    def replay_delivery(self, delivery_id: str, *, key: str | None = None) -> dict[str, Any]:
        """One more attempt of the delivery now, same delivery id: what a receiver sees
        when Harbor delivers twice, as at-least-once delivery allows."""
        path = f"/v1/deliveries/{segment(delivery_id)}/replay"
        return self.request("POST", path, key=self._key(key))

    def _page(self, path: str, key: str | None, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
        params = {name: value for name, value in filters.items() if value is not None}
        page = self.request("GET", path, key=self._key(key), params=params)
        return list(page["data"])
