"""API keys, modes, scopes and workspaces: who may do what, where.

Fixture-defined keys and the known workspaces are cached in memory (`KeyRegistry`) so a
request costs no query to authenticate; every write to them calls `reload`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..errors import HarborError
from ..store import api_keys, workspaces
from ..store.db import Database
from ..store.rows import ApiKey

SCOPES: tuple[str, ...] = ("events:write", "events:read", "webhooks:manage")
KEY_PATTERN = re.compile(r"(hb|hk)_(test|live)_[A-Za-z0-9_]{1,200}")
WORKSPACE_ID_PATTERN = re.compile(r"ws_[A-Za-z0-9]{1,64}")


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one /v1 request."""

    key: str
    livemode: bool
    scopes: frozenset[str]
    workspace_id: str  # the default workspace
    any_workspace: bool  # open-sandbox keys may use every workspace

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise HarborError(
                "insufficient_scope", f"This API key lacks the '{scope}' scope.", param=None
            )


def open_workspace_id(key: str) -> str:
    """The default workspace of a key that fixtures don't define: stable across restarts."""
    return "ws_" + hashlib.sha256(key.encode()).hexdigest()[:16]


def key_livemode(key: str) -> bool:
    return key[3:8] == "live_"


class KeyRegistry:
    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self._keys: dict[str, ApiKey] = {}
        self._workspaces: set[str] = set()

    async def reload(self, db: Database) -> None:
        self._keys = {key.key: key for key in await api_keys.list_all(db)}
        self._workspaces = await workspaces.all_ids(db)

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
        livemode = key_livemode(token)
        if self.strict or livemode:
            # Live keys exist only when fixtures define them (contract: open sandbox).
            raise HarborError("invalid_api_key", "No such API key.")
        return Principal(
            key=token,
            livemode=False,
            scopes=frozenset(SCOPES),
            workspace_id=open_workspace_id(token),
            any_workspace=True,
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
