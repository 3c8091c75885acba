"""Fixtures: parse, check and load a YAML or JSON document, all or nothing.

Parsing (bounded: `fixture_parsing`), refusing non-finite numbers and `${NAME}`
interpolation are in `fixture_documents`; `read_document` runs them, and the shape check, on
a worker thread.
The document is then checked in three passes before anything is written: its shape against
`fixtures.schema.json` (the documented schema, used as it is), then each entry's meaning
with the same validators as the API (URLs per mode, patterns, metadata, retry policies,
payload size), then references and duplicates across the document and the stored state.
Only then is it written, in one transaction. The second and third passes are in
fixture_checks.py: they turn the document into a `Plan` of rows. Every error names the
source, the entry (its index and id) and the field: `param` is the field's path, e.g.
`destinations[2].url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from functools import cache, partial
from importlib import resources
from pathlib import Path
from typing import Any

from ..core.clock import parse_timestamp
from ..core.fixture_documents import (
    entry_id_at,
    field_path,
    fixture_error,
    interpolate,
    server_base_url,
)
from ..core.fixture_parsing import collector_paused, release, released_on_error
from ..store import (
    api_keys,
    deliveries,
    endpoints,
    events,
    open_sandbox_keys,
    signing_keys,
    subscriptions,
    workspaces,
)
from ..store.db import Tx
from .clock_routes import persist_clock
from .fixture_checks import Loader, Plan

# Documents up to this size are read on the event loop (see `load`).
INLINE_DOCUMENT_BYTES = 8 * 1024


@cache
def schema() -> dict[str, Any]:
    text = resources.files("harbor_emulator").joinpath("fixtures.schema.json").read_text()
    return json.loads(text)


@cache
def _validator() -> Any:
    """One validator for every document: it keeps its resolved `$ref`s (~0.1 ms a load)."""
    import jsonschema  # imported on first use, as yaml is

    return jsonschema.Draft202012Validator(schema())


def check_shape(document: dict[str, Any], source: str) -> None:
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is None:
        return
    parts = list(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        if extra:
            parts.append(extra[0])
            message = f"unknown field '{extra[0]}'."
        else:
            message = error.message
    elif error.validator == "pattern" and parts and str(parts[-1]) in ("secret", "signing_secret"):
        message = "secrets start with 'whsec_' followed by at least 16 characters."
    else:
        message = error.message[:300]
    entry_id = entry_id_at(document, parts)
    raise fixture_error(source, field_path(parts), message, entry_id)


async def apply(tx: Tx, plan: Plan) -> None:
    """Write a checked plan; runs inside one transaction, so it lands whole or not at all."""
    for workspace_id, (name, created_ms) in plan.workspaces.items():
        await workspaces.upsert(tx, workspace_id, name, created_ms)
    for key in plan.api_keys:
        await api_keys.insert(tx, key)
    for open_key in plan.open_sandbox_keys:
        await open_sandbox_keys.put(tx, open_key)
    for endpoint, keys in plan.endpoints:
        current = next(k for k in keys if k.expires_ms is None)
        await endpoints.insert(tx, endpoint, secret=current.secret, key_id=current.id)
        if len(keys) > 1 or current.created_ms != endpoint.created_ms:
            await signing_keys.replace_all(tx, endpoint.id, keys)
    for subscription in plan.subscriptions:
        await subscriptions.insert(tx, subscription)
    await events.insert_many(tx, plan.events)
    await deliveries.insert_many(tx, [delivery for delivery, _ in plan.deliveries])
    await deliveries.insert_attempts(tx, [a for _, attempts in plan.deliveries for a in attempts])


def summary(plan: Plan) -> dict[str, Any]:
    return {
        "object": "fixtures",
        "workspaces": len(plan.workspaces),
        "api_keys": len(plan.api_keys),
        "open_sandbox_keys": len(plan.open_sandbox_keys),
        "webhooks": sum(1 for e, _ in plan.endpoints if e.kind == "webhook"),
        "destinations": sum(1 for e, _ in plan.endpoints if e.kind == "destination"),
        "subscriptions": len(plan.subscriptions),
        "events": len(plan.events),
        "deliveries": len(plan.deliveries),
    }


def read_document(
    raw: bytes, env: Mapping[str, str], base_url: str, *, source: str, yaml_syntax: bool
) -> dict[str, Any]:
    """Parse, interpolate and check the shape of one document: everything that needs no
    state. Pure CPU, seconds for several MB of YAML, so `load` runs it on a worker thread."""
    with collector_paused():
        document = interpolate(raw, env, base_url, source=source, yaml_syntax=yaml_syntax)
        with released_on_error(document):
            check_shape(document, source)
    return document


async def load(
    state: Any,
    raw: bytes,
    *,
    source: str,
    yaml_syntax: bool,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
    gate: Callable[[], AbstractAsyncContextManager[None]] | None = None,
) -> dict[str, Any]:
    """Parse, interpolate, check and write one document into the running emulator's state.

    `${NAME}` comes from `env` (default: this process's environment) and
    `${HARBOR_EMULATOR_URL}` is `base_url` (default: the address the server listens on).
    `gate`, when given, is held from the checks against the stored state to the end: the
    route passes the state gate's exclusive side, so a document is read (and a bomb refused)
    without waiting for an advance, and writes wait only for the load itself.
    """
    if base_url is None:
        base_url = server_base_url(state.config.host, state.config.port)
    read = partial(
        read_document,
        raw,
        dict(os.environ if env is None else env),
        base_url,
        source=source,
        yaml_syntax=yaml_syntax,
    )
    # A large body is read on a worker thread, so that it never holds up the event loop:
    # the thread gives up the GIL every 5 ms (sys.getswitchinterval), so reads meanwhile
    # are answered at once (contract: Limits, Documents). A small one, what a test loads
    # before each case, is read here: a few ms at most even with its aliases expanded to
    # their limit, against ~0.5 ms of trips to and from the thread, a sixth of a load.
    small = len(raw) <= INLINE_DOCUMENT_BYTES
    document = read() if small else await asyncio.to_thread(read)
    try:
        async with gate() if gate is not None else contextlib.nullcontext():
            loader = Loader(
                state.db,
                state.ids,
                state.clock.now_ms(),
                source=source,
                resolve_timeout=state.config.resolve_timeout_seconds,
            )
            plan = await loader.load(document)

            async def work(tx: Tx) -> None:
                await apply(tx, plan)

            # `apply` awaits nothing but its Tx: the whole plan is written in one trip to
            # the database thread, not one per row.
            await state.db.write_inline(work)
            await state.keys.reload(state.db)
            await _apply_clock(state, plan.clock)
    finally:
        # Dropped here, a document of several MB would be freed in one step of ~100 ms.
        if not small:
            await asyncio.to_thread(release, document)
    state.scheduler.wake()
    return summary(plan)


async def _apply_clock(state: Any, clock: dict[str, Any] | None) -> None:
    if not clock:
        return
    if clock.get("now") is not None:
        target = parse_timestamp(clock["now"], "clock.now")
        if target > state.clock.now_ms():
            state.clock.set_ms(target)
    if clock.get("frozen"):
        state.clock.freeze()
    await persist_clock(state)


async def load_files(state: Any, paths: tuple[str, ...]) -> None:
    """The --fixtures files, in order: at start and after every reset."""
    for path in paths:
        raw = await asyncio.to_thread(Path(path).read_bytes)
        await load(state, raw, source=path, yaml_syntax=not path.endswith(".json"))
