"""The stateless mock servers scripts/bench_events.py measures beside the emulator.

Users who want a fake Harbor in their tests could pick one of these instead of the
emulator, so issue 20 asks the emulator to keep up with them while staying durable:

- wiremock: WireMock standalone (the jar inside the npm package `wiremock`, run with
  `java -jar`) with one canned stub for POST /v1/events answering 201 and the emulator's
  own response body; request journal off, as a stateless stub would run.
- prism: Prism (`@stoplight/prism-cli`) mocking the emulator's OpenAPI document
  (harbor_emulator/openapi.yaml, the source of /openapi.json) with its static examples.
  Prism validates each request against the document, so the bench's request must carry a
  Bearer key and a valid body, and it answers with the first 2xx response: 201.

Each is installed once with npm, at the pinned version below, into
~/.cache/harbor-emulator/bench-peers/ ($XDG_CACHE_HOME is honoured). A peer whose runtime
(java, node), npm or install is missing is unavailable, with a reason that the bench
prints: never skipped silently.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _bench_common import REPO_ROOT

OPENAPI_DOCUMENT = REPO_ROOT / "harbor_emulator" / "openapi.yaml"
NPM_INSTALL_TIMEOUT_S = 600

# What the emulator answers to the bench's request, byte for byte but for the id and
# time, so that the stub writes a response of the same size.
WIREMOCK_RESPONSE_BODY = (
    '{"id":"evt_01M8TCP4K2PEE2AJHRFQMPEZJ2","object":"event","type":"order.created",'
    '"workspace_id":"ws_a62c7dd67ee5f128","payload":{"order_id":"ord_123",'
    '"amount_cents":4500},"created_at":"2026-12-02T03:27:33Z","livemode":false}'
)


class PeerUnavailable(Exception):
    """The peer cannot run on this machine; the message says why."""


@dataclass(frozen=True)
class PeerSpec:
    name: str
    package: str  # on npm
    version: str  # pinned: figures from different releases do not compare
    runtime: str  # the executable that runs it
    health_path: str  # a GET that answers 200 once it serves
    describe: str

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


PEERS: dict[str, PeerSpec] = {
    spec.name: spec
    for spec in (
        PeerSpec(
            "wiremock",
            "wiremock",
            "3.13.2",
            "java",
            "/__admin/health",
            "WireMock standalone (npm wiremock, java -jar), one canned stub, no request journal",
        ),
        # 5.15 and later declare node >= 24 in `engines`, yet 5.16.0 runs on node 20
        # (npm only warns); it is the release issue 20 measured.
        PeerSpec(
            "prism",
            "@stoplight/prism-cli",
            "5.16.0",
            "node",
            "/_control/health",
            "Prism mock of harbor_emulator/openapi.yaml, static examples",
        ),
    )
}


@dataclass(frozen=True)
class Peer:
    """A peer ready to start: `argv(port)` serves POST /v1/events on 127.0.0.1:port."""

    spec: PeerSpec
    argv: Callable[[int], list[str]]


def parse_peers(value: str) -> list[str]:
    """`none`, or a comma-separated list of PEERS names; ValueError for anything else."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    if names == ["none"]:
        return []
    unknown = [n for n in names if n not in PEERS]
    if unknown or not names:
        choices = ",".join(PEERS)
        raise ValueError(f"--peers takes none or a list from {choices}, not {value!r}")
    return list(dict.fromkeys(names))


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harbor-emulator" / "bench-peers"


def install_dir(spec: PeerSpec, cache_dir: Path) -> Path:
    # One prefix per pinned package: a failed install of one never costs the other.
    return cache_dir / f"{spec.package.replace('/', '+')}@{spec.version}"


def npm_install_argv(npm: str, spec: PeerSpec, prefix: Path) -> list[str]:
    return [
        npm, "install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error",
        # Neither package needs one, and Prism's dependencies carry an analytics ping.
        "--ignore-scripts",
        "--prefix", str(prefix), f"{spec.package}@{spec.version}",
    ]  # fmt: skip


def installed_version(prefix: Path, spec: PeerSpec) -> str | None:
    try:
        manifest = json.loads((prefix / "node_modules" / spec.package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = manifest.get("version")
    return version if isinstance(version, str) else None


def ensure_installed(spec: PeerSpec, cache_dir: Path, log: Callable[[str], None]) -> Path:
    """The npm prefix holding `spec` at its pinned version, installed on first use."""
    prefix = install_dir(spec, cache_dir)
    if installed_version(prefix, spec) == spec.version:
        return prefix
    npm = shutil.which("npm")
    if npm is None:
        raise PeerUnavailable(f"npm not found (it installs {spec.package}@{spec.version})")
    # Into a fresh directory, renamed into place once complete: an interrupted install
    # must not pass for a finished one next time.
    staging = cache_dir / f".{prefix.name}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log(f"installing {spec.package}@{spec.version} with npm into {prefix}")
    try:
        try:
            done = subprocess.run(
                npm_install_argv(npm, spec, staging),
                capture_output=True,
                text=True,
                timeout=NPM_INSTALL_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PeerUnavailable(
                f"npm install {spec.package}@{spec.version} took over {NPM_INSTALL_TIMEOUT_S} s"
            ) from None
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise PeerUnavailable(
                f"npm install {spec.package}@{spec.version} failed "
                f"(exit {done.returncode}): " + " | ".join(output)
            )
        if installed_version(staging, spec) != spec.version:
            raise PeerUnavailable(f"npm install did not leave {spec.package}@{spec.version}")
        shutil.rmtree(prefix, ignore_errors=True)
        os.replace(staging, prefix)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return prefix


def write_wiremock_root(root: Path) -> Path:
    """WireMock's --root-dir with the one stub; returns `root`."""
    stub = {
        "request": {"method": "POST", "urlPath": "/v1/events"},
        "response": {
            "status": 201,
            "headers": {"Content-Type": "application/json"},
            "body": WIREMOCK_RESPONSE_BODY,
        },
    }
    (root / "mappings").mkdir(parents=True, exist_ok=True)
    (root / "mappings" / "post_events.json").write_text(json.dumps(stub, indent=2))
    return root


def wiremock_argv(java: str, jar: Path, root: Path, port: int) -> list[str]:
    return [
        java, "-jar", str(jar), "--port", str(port), "--bind-address", "127.0.0.1",
        "--root-dir", str(root), "--disable-banner",
        # The journal keeps every request in memory: a stateless stub runs without it,
        # and with it the heap grows all run long.
        "--no-request-journal",
    ]  # fmt: skip


def prism_argv(node: str, entry: Path, document: Path, port: int) -> list[str]:
    # `--errors` stays off (the default): Prism still answers 401/422 to an invalid
    # request, which the bench's check before timing catches.
    return [node, str(entry), "mock", "-h", "127.0.0.1", "-p", str(port), str(document)]


def wiremock_jar(prefix: Path, spec: PeerSpec) -> Path:
    jars = sorted(
        (prefix / "node_modules" / spec.package / "build").glob("wiremock-standalone-*.jar")
    )
    if len(jars) != 1:
        raise PeerUnavailable(
            f"expected one wiremock-standalone jar in {prefix}, found {len(jars)}"
        )
    return jars[0]


def prism_entry(prefix: Path, spec: PeerSpec) -> Path:
    package_dir = prefix / "node_modules" / spec.package
    try:
        bin_field = json.loads((package_dir / "package.json").read_text())["bin"]
    except (OSError, ValueError, KeyError) as exc:
        raise PeerUnavailable(f"no bin in {spec.package}'s package.json: {exc}") from None
    entry = package_dir / (bin_field["prism"] if isinstance(bin_field, dict) else bin_field)
    if not entry.is_file():
        raise PeerUnavailable(f"{entry} is missing")
    return entry


def prepare(name: str, cache_dir: Path, workdir: Path, log: Callable[[str], None]) -> Peer:
    """A ready-to-start peer, or PeerUnavailable saying why not."""
    spec = PEERS[name]
    runtime = shutil.which(spec.runtime)
    if runtime is None:
        raise PeerUnavailable(f"{spec.runtime} not found")
    prefix = ensure_installed(spec, cache_dir, log)
    if name == "wiremock":
        jar = wiremock_jar(prefix, spec)
        root = write_wiremock_root(workdir / "wiremock-root")
        return Peer(spec, lambda port: wiremock_argv(runtime, jar, root, port))
    entry = prism_entry(prefix, spec)
    if not OPENAPI_DOCUMENT.is_file():
        raise PeerUnavailable(f"{OPENAPI_DOCUMENT} is missing")
    return Peer(spec, lambda port: prism_argv(runtime, entry, OPENAPI_DOCUMENT, port))


def post_once(port: int, path: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    """One request as wrk will send it: the status and the start of the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body.encode(), headers=headers)
        response = conn.getresponse()
        return response.status, response.read(200).decode(errors="replace")
    finally:
        conn.close()
