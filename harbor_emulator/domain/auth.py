"""API keys, modes, scopes and workspaces: who may do what, where.

Fixture-defined keys, the open-sandbox keys seen so far (with the workspace each adopted)
and the known workspaces are cached in memory (`KeyRegistry`) so a request costs no query to
authenticate; every write to them goes through `adopt` or is followed by `reload`.

An open-sandbox key adopts the first workspace it names (contract, Authentication), like a
real key created inside that workspace. Recording it is one small write the first time a
key is used and once more the first time it names a workspace; after that a key costs a
dict lookup. The write runs before the request's own, so the key's default is settled
(and durable) before anything is created with it.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from typing import NamedTuple

from ..core.errors import HarborError
from ..store import api_keys, open_sandbox_keys, workspaces
from ..store.db import Database, Tx
from ..store.rows import ApiKey

SCOPES: tuple[str, ...] = ("events:write", "events:read", "webhooks:manage")
_ALL_SCOPES = frozenset(SCOPES)
KEY_PATTERN = re.compile(r"(hb|hk)_(test|live)_[A-Za-z0-9_]{1,200}")
WORKSPACE_ID_PATTERN = re.compile(r"ws_[A-Za-z0-9]{1,64}")


class Principal(NamedTuple):
    """The caller of one /v1 request."""

    key: str
    livemode: bool
    scopes: frozenset[str]
    workspace_id: str  # the default workspace
    any_workspace: bool  # open-sandbox keys may use every workspace
    # An open-sandbox key not yet recorded, or that has adopted no workspace yet: the
    # request pipeline calls `KeyRegistry.adopt` for it.
    adopts: bool = False

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise HarborError(
                "insufficient_scope", f"This API key lacks the '{scope}' scope.", param=None
            )


@functools.lru_cache(maxsize=1024)  # a sha256 per request otherwise, for the same few keys
def open_workspace_id(key: str) -> str:
    """The default workspace of a key that fixtures don't define: stable across restarts."""
    return "ws_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def key_livemode(key: str) -> bool:
    return key[3:8] == "live_"


LIVE_KEY_UNDEFINED = (
    "No such live API key. Live keys exist only when you define them: list it under "
    "'api_keys' in a --fixtures file, or create it with POST /_control/api_keys "
    '{"mode": "live"} (add "key": "<your key>" to keep the one your code sends). '
    "Or use a test key (hb_test_… or hk_test_…): the open sandbox accepts any."
)
STRICT_KEY_UNDEFINED = (
    "No such API key. With --strict only keys that fixtures define exist: list it under "
    "'api_keys' in a --fixtures file, or create it with POST /_control/api_keys."
)

_UNSEEN = object()


def named_workspace(body: Mapping[str, object] | None, query: Mapping[str, str]) -> object:
    """The workspace a /v1 request names: the body's `workspace_id`, else the query's."""
    if body is not None and body.get("workspace_id") is not None:
        return body["workspace_id"]
    return query.get("workspace_id")


class KeyRegistry:
    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self._keys: dict[str, ApiKey] = {}
        # Open-sandbox keys recorded so far -> the workspace each adopted (None: not yet).
        self._open: dict[str, str | None] = {}
        self._workspaces: set[str] = set()
        # Bumped by every reload, so an adoption that committed before a reset emptied the
        # state does not write its stale answer back into the fresh cache.
        self._generation = 0

    async def reload(self, db: Database) -> None:
        self._generation += 1
        self._keys = {key.key: key for key in await api_keys.list_all(db)}
        self._open = {row.key: row.workspace_id for row in await open_sandbox_keys.list_all(db)}
        self._workspaces = await workspaces.all_ids(db)

    def default_workspace(self, key: str) -> str:
        """The workspace an open-sandbox key uses when a request names none."""
        adopted = self._open.get(key)
        return adopted if adopted is not None else open_workspace_id(key)

    async def adopt(
        self, db: Database, now_ms: int, principal: Principal, named: object
    ) -> Principal:
        """Record an open-sandbox key's first use and the first workspace it names.

        Concurrent first requests naming different workspaces: the first committed wins,
        for every later request and after restarts alike (the store keeps the first).
        """
        key = principal.key
        workspace_id = (
            named if isinstance(named, str) and WORKSPACE_ID_PATTERN.fullmatch(named) else None
        )
        if workspace_id is None and key in self._open:
            return principal  # recorded already, and this request names no workspace
        generation = self._generation

        async def work(tx: Tx) -> str | None:
            adopted = await open_sandbox_keys.record(tx, key, workspace_id, now_ms)
            if adopted is not None and adopted == workspace_id:
                # Adopting is using: the open sandbox creates a workspace on first use.
                await workspaces.ensure(tx, adopted, now_ms)
            return adopted

        adopted = await db.write(work)
        if generation == self._generation:
            if adopted is not None:
                self._workspaces.add(adopted)
                self._open[key] = adopted
            else:
                self._open.setdefault(key, None)
        if adopted is None:
            return principal._replace(adopts=False)
        return principal._replace(workspace_id=adopted, adopts=False)

    def workspace_known(self, workspace_id: str) -> bool:
        return workspace_id in self._workspaces

    def note_workspace(self, workspace_id: str) -> None:
        """Record a workspace a committed write created."""
        self._workspaces.add(workspace_id)

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise HarborError(
                "authentication_required", "Send your API key as 'Authorization: Bearer <key>'."
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise HarborError(
                "authentication_required", "Send your API key as 'Authorization: Bearer <key>'."
            )
        if not KEY_PATTERN.fullmatch(token):
            raise HarborError(
                "invalid_api_key",
                "This is not a Harbor API key: keys start with hb_test_, hb_live_, "
                "hk_test_ or hk_live_.",
            )
        defined = self._keys.get(token)
        if defined is not None:
            if defined.revoked_ms is not None:
                raise HarborError("invalid_api_key", "This API key has been revoked.")
            return Principal(
                key=token,
                livemode=defined.livemode,
                scopes=defined.scopes,
                workspace_id=defined.workspace_id,
                any_workspace=False,
            )
        if self.strict:
            raise HarborError("invalid_api_key", STRICT_KEY_UNDEFINED)
        if key_livemode(token):
            # Live keys exist only when fixtures define them (contract: open sandbox).
            raise HarborError("invalid_api_key", LIVE_KEY_UNDEFINED)
        adopted = self._open.get(token, _UNSEEN)
        if isinstance(adopted, str):
            return Principal(token, False, _ALL_SCOPES, adopted, any_workspace=True)
        return Principal(
            token, False, _ALL_SCOPES, open_workspace_id(token), any_workspace=True, adopts=True
        )

    def workspace_for(self, principal: Principal, workspace_id: object) -> str:
        """The workspace a request names (or the key's default), if the key may use it."""
        if workspace_id is None:
            chosen = principal.workspace_id
        elif not isinstance(workspace_id, str) or not WORKSPACE_ID_PATTERN.fullmatch(workspace_id):
            raise HarborError(
                "invalid_parameter",
                "workspace_id must be 'ws_' followed by 1-64 letters or digits.",
                param="workspace_id",
            )
        else:
            chosen = workspace_id
        if chosen != principal.workspace_id and not principal.any_workspace:
            raise HarborError("workspace_not_found", f"No workspace {chosen} for this API key.")
        if self.strict and chosen not in self._workspaces:
            raise HarborError("workspace_not_found", f"No workspace {chosen}.")
        return chosen

    def may_use(self, principal: Principal, workspace_id: str) -> bool:
        return principal.any_workspace or workspace_id == principal.workspace_id
