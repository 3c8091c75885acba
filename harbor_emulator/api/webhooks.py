"""/v1/webhooks: the SDK dialect's endpoints (`wh_`, inline `events`, `secret`).

The handlers are the shared endpoint ones (endpoint_common), bound to this dialect.
"""

from __future__ import annotations

from .endpoint_common import WEBHOOKS, routes_for
from .signing_keys import routes_for as signing_key_routes_for

routes = [*routes_for(WEBHOOKS), *signing_key_routes_for(WEBHOOKS)]
