"""Fuzz the emulator's HTTP API with schemathesis, driven by harbor_emulator/openapi.yaml.

Which checks run, and why three do not, is in schemathesis.toml at the repository root.

Starts an emulator on a free port (or uses --url), runs `st run` against its
/openapi.json with a test key, following the document's links (create -> get -> patch ->
delete), and exits with schemathesis's status. Arguments after `--` go to `st run`.

    scripts/fuzz                         # the default budget, every documented route
    scripts/fuzz --max-examples 200 --seed 7
    scripts/fuzz --duration 300          # five minutes: fuzzing, then stateful, repeated
    scripts/fuzz --paths '^/v1/'         # only the routes whose path matches
    scripts/fuzz --url http://127.0.0.1:4280 -- --phases stateful

Every route of the document is fuzzed, /_control included: a reset, a clock moved to the
end of its range or a revoked key in the middle of a run must not make any later answer a
5xx or one the document does not allow (docs/limits.md, "The clock's end and the served
document"). The emulator it starts runs in this process, its deliveries answered 200
without the network (fuzzed webhooks point anywhere); one given with --url sends for real,
and the run resets it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from harbor_emulator.delivery.sender import Sender
from harbor_emulator.testing import EmulatorServer

FUZZ_KEY = "hb_test_fuzz"
CONFIG = Path(__file__).resolve().parent.parent / "schemathesis.toml"


def schemathesis_command(
    url: str,
    *,
    max_examples: int,
    seed: int | None,
    paths: str | None = None,
    duration_seconds: int | None = None,
) -> list[str]:
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    command = [
        st,
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {FUZZ_KEY}",
        "--max-examples",
        str(max_examples),
        # Found examples are not worth keeping between runs; no .hypothesis/ litter.
        "--generation-database",
        "none",
        "--no-color",
    ]
    if paths is not None:
        command += ["--include-path-regex", paths]
    if duration_seconds is not None:
        # The phases repeat until the budget is spent (each still runs to the end once).
        command += ["--max-time", str(duration_seconds)]
    if seed is not None:
        command += ["--seed", str(seed)]
    return command


def receiver_everywhere(sender: Sender) -> httpx.AsyncBaseTransport:
    """A sender's transport whose every URL answers 200, without the network.

    Fuzzed webhooks point at made-up hosts and addresses: real sends would resolve and
    connect to them (traffic to anywhere), and each clock advance would wait for those
    attempts to time out, holding every write behind it. httpx still builds each request
    (headers, URL), so a delivery the sender cannot encode still fails the run.
    """
    transport = httpx.MockTransport(lambda _: httpx.Response(200))
    sender._all.append(transport)  # type: ignore[arg-type]
    return transport


@contextlib.contextmanager
def started_emulator() -> Iterator[str]:
    """A fresh emulator (no rate limit, fresh state) on a free port, served by uvicorn in
    this process with every delivery answered 200 locally; yields its URL."""
    original = Sender._transport
    Sender._transport = receiver_everywhere  # type: ignore[assignment,method-assign]
    # Config's defaults, not a user's HARBOR_EMULATOR_* settings: nothing else shapes the run.
    server = EmulatorServer(rate_limit=0, log_level="warning")
    try:
        yield server.start()
    finally:
        server.stop()
        Sender._transport = original  # type: ignore[method-assign]


def hooks_environment() -> dict[str, str]:
    """This process's environment with scripts/_fuzz_hooks.py loaded by `st run`."""
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "SCHEMATHESIS_HOOKS": "_fuzz_hooks", "PYTHONPATH": path}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="fuzz this running emulator instead of starting one")
    parser.add_argument("--max-examples", type=int, default=100, help="test cases per operation")
    parser.add_argument("--seed", type=int, help="reproduce a run")
    parser.add_argument(
        "--duration",
        type=int,
        metavar="SECONDS",
        help="keep fuzzing (fuzzing and stateful phases, repeated) for this long",
    )
    parser.add_argument(
        "--paths", metavar="REGEX", help="fuzz only the routes whose path matches (default: all)"
    )
    parser.add_argument("st_args", nargs="*", help="passed on to `st run` (after --)")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(started_emulator())
        command = schemathesis_command(
            url,
            max_examples=args.max_examples,
            seed=args.seed,
            paths=args.paths,
            duration_seconds=args.duration,
        )
        return subprocess.call([*command, *args.st_args], env=hooks_environment())


if __name__ == "__main__":
    sys.exit(main())
