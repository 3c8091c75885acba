"""schemathesis hooks for scripts/fuzz (loaded through SCHEMATHESIS_HOOKS).

An API fault (`POST /_control/faults`, target "api") answers later requests with the error
it names, on every route when it names no method or path: by design, and exactly what a
fuzzer must not leave behind, since every later answer it causes is an error its own
operation does not document (a GET answering 400 over_destination_limit, a 404 "No such
route" in place of a 401). So each fault the fuzzer creates is deleted as soon as its 201
is checked: the route is still fuzzed whole, and nothing it creates outlives its request.
With one worker (tests/test_fuzz.py's), no other request runs in between.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import schemathesis

FAULTS = "/_control/faults"


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    if case.method.upper() != "POST" or case.path != FAULTS or response.status_code != 201:
        return
    fault_id = json.loads(response.content)["id"]
    base = response.request.url.split(FAULTS, 1)[0]
    delete = urllib.request.Request(f"{base}{FAULTS}/{fault_id}", method="DELETE")
    for name, value in response.request.headers.items():
        if name.lower() == "authorization":  # a --control-token run needs it
            delete.add_header(name, value)
    with urllib.request.urlopen(delete, timeout=30) as answer:
        assert answer.status == 204, f"could not delete fault {fault_id}: {answer.status}"
