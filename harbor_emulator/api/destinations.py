"""/v1/destinations: the REST dialect's endpoints (`dest_`, `name`, `signing_secret`).

The handlers are the shared endpoint ones (endpoint_common), bound to this dialect; a
destination's event types come from /v1/subscriptions.
"""

from __future__ import annotations

from .endpoint_common import DESTINATIONS, routes_for
from .signing_keys import routes_for as signing_key_routes_for

routes = [*routes_for(DESTINATIONS), *signing_key_routes_for(DESTINATIONS)]
