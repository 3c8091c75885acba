"""docs/node.md's TypeScript compiles with `tsc --strict` against the npm package, whose API
types are what the served OpenAPI document gives; the typed calls answer as typed.

No PyInstaller binary is needed: the main package is built from its sources (the build
regenerates src/openapi.ts from harbor_emulator/openapi.yaml), packed with `npm pack` and
installed into a copy of npm/example, the project docs/node.md shows, beside its pinned
packages. The typed calls run there under Vitest against an emulator served from this
checkout. tests/test_npm_package.py does the same with the packed executable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import skip_policy
from tests.conftest import Emulator

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "npm" / "harbor-emulator"
EXAMPLE = ROOT / "npm" / "example"
PAGE = ROOT / "docs" / "node.md"
GENERATED = Path("src") / "openapi.ts"
RUN_TIMEOUT_SECONDS = 600
QUIET = ["--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"]
BLOCK = re.compile(r"^(?:<!-- include: (?P<path>\S+) -->\n)?```ts\n(?P<code>.*?)^```$", re.S | re.M)
TSC_ERROR = re.compile(r"^(?P<file>[^\s(]+)\((?P<line>\d+),\d+\): error (?P<code>TS\d+)", re.M)
# Where the page's blocks that are no file of the example go: beside the per-worker
# fixture, which "A first test" imports as ./harbor.js.
DOC_BLOCKS = Path("test") / "per-worker"


@dataclass(frozen=True, slots=True)
class MustFail:
    """A mistake the types must catch: `code` at the line marked `// error`."""

    name: str
    code: str
    source: str


SETUP = 'import { connectEmulator, HarborAPIError } from "harbor-emulator";\n' + (
    'const harbor = connectEmulator("http://127.0.0.1:4280");\n'
)
MUST_FAIL = [
    # The case: the webhook `request()` answers is a WebhookCreated, not `unknown`.
    MustFail(
        "secret-is-a-string",
        "TS2322",
        'const webhook = await harbor.request("POST", "/v1/webhooks", { body: {} });\n'
        "const secret: number = webhook.secret; // error\n",
    ),
    MustFail(
        "misspelt-field",
        "TS2551",
        'const webhook = await harbor.createWebhook({ url: "http://x.test/", events: ["a"] });\n'
        "webhook.secrets; // error\n",
    ),
    MustFail(
        "unknown-delivery-status",
        "TS2322",
        'await harbor.deliveries({ status: "done" }); // error\n',
    ),
    MustFail(
        "unknown-error-code",
        "TS2367",
        'const error = new HarborAPIError(404, "not_found", "");\n'
        'if (error.code === "webhook_missing") throw error; // error\n',
    ),
]
MUST_FAIL_DIR = Path("test") / "must-fail"


def npm_env() -> dict[str, str]:
    return dict(os.environ, NPM_CONFIG_CACHE=str(ROOT / ".npm-cache"), NO_COLOR="1", CI="1")


def run(
    args: list[str], cwd: Path, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args,
        cwd=cwd,
        env=dict(npm_env(), **env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    if check:
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@dataclass(frozen=True, slots=True)
class Built:
    directory: Path
    tarball: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    skip_policy.require_tools("node", "npm", install=skip_policy.NODE)
    return build_package(tmp_path_factory.mktemp("npm-types"))


def build_package(top: Path) -> Built:
    """The main package built from a copy of its sources under `top`, as scripts/build_npm
    builds it, and packed there."""
    directory = top / "npm" / "harbor-emulator"
    shutil.copytree(PACKAGE, directory, ignore=shutil.ignore_patterns("node_modules", "dist"))
    # The generator reads the document where it sits in the repository, beside npm/.
    (top / "harbor_emulator").mkdir()
    shutil.copy(ROOT / "harbor_emulator" / "openapi.yaml", top / "harbor_emulator")
    run(["npm", "ci", *QUIET], cwd=directory)
    run(["npm", "run", "--silent", "build"], cwd=directory)
    run(["npm", "pack", "--pack-destination", str(top), *QUIET], cwd=directory)
    [tarball] = top.glob("harbor-emulator-*.tgz")
    return Built(directory, tarball)


@dataclass(frozen=True, slots=True)
class DocBlock:
    line: int
    path: Path  # inside the example project
    code: str


def doc_blocks() -> list[DocBlock]:
    """Each ```ts block of docs/node.md where the example project gets it: an included file
    at its own path, any other block in a file of its own named by its line."""
    text = PAGE.read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        included = match["path"]
        path = (
            Path(included).relative_to("npm/example")
            if included
            else DOC_BLOCKS / f"node-md-line-{line}.ts"
        )
        blocks.append(DocBlock(line, path, match["code"]))
    return blocks


@pytest.fixture(scope="module")
def project(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project with the page's blocks written in, the mistakes of MUST_FAIL
    beside them, its pinned packages (npm ci) and the packed package (`npm i -D`)."""
    project = tmp_path_factory.mktemp("npm-types-example") / "example"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("node_modules"))
    for block in doc_blocks():
        (project / block.path).write_text(block.code)
    (project / MUST_FAIL_DIR).mkdir(parents=True)
    for mistake in MUST_FAIL:
        (project / MUST_FAIL_DIR / f"{mistake.name}.ts").write_text(SETUP + mistake.source)
    run(["npm", "ci", *QUIET], cwd=project)
    run(["npm", "i", "-D", "--no-save", *QUIET, str(built.tarball)], cwd=project)
    return project


@pytest.fixture(scope="module")
def tsc_errors(project: Path) -> dict[Path, list[tuple[int, str]]]:
    """`tsc --strict --noEmit` over the project: file -> [(line, TS code)] of its errors."""
    result = run(["npx", "--no-install", "tsc", "--strict", "--noEmit", "-p", "."], project, False)
    errors: dict[Path, list[tuple[int, str]]] = {}
    for match in TSC_ERROR.finditer(result.stdout):
        errors.setdefault(Path(match["file"]), []).append((int(match["line"]), match["code"]))
    assert errors or result.returncode == 0, f"tsc failed without errors:\n{result.stdout}"
    return errors


def test_the_committed_types_are_what_the_build_generates(built: Built) -> None:
    assert (built.directory / GENERATED).read_text() == (PACKAGE / GENERATED).read_text(), (
        "npm/harbor-emulator/src/openapi.ts is not what the build generates from "
        "harbor_emulator/openapi.yaml: run `npm run generate` there and commit it"
    )


def test_the_types_are_those_of_the_served_document(built: Built, emulator: Emulator) -> None:
    result = run(
        ["node", "scripts/generate-types.mjs", "--check", f"{emulator.url}/openapi.json"],
        built.directory,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_typescript_block_of_node_md_compiles_under_strict(
    tsc_errors: dict[Path, list[tuple[int, str]]],
) -> None:
    blocks = doc_blocks()
    assert any(block.path.parent == DOC_BLOCKS for block in blocks), "no ts block found"
    failing = {
        f"docs/node.md line {block.line} ({block.path}): {tsc_errors[block.path]}"
        for block in blocks
        if block.path in tsc_errors
    }
    others = set(tsc_errors) - {block.path for block in blocks}
    others -= {MUST_FAIL_DIR / f"{mistake.name}.ts" for mistake in MUST_FAIL}
    assert not failing and not others, (failing, {str(path): tsc_errors[path] for path in others})


@pytest.mark.parametrize("mistake", MUST_FAIL, ids=lambda mistake: mistake.name)
def test_strict_types_catch_the_mistake(
    mistake: MustFail, tsc_errors: dict[Path, list[tuple[int, str]]]
) -> None:
    lines = (SETUP + mistake.source).splitlines()
    marked = next(number for number, line in enumerate(lines, 1) if line.endswith("// error"))
    assert tsc_errors.get(MUST_FAIL_DIR / f"{mistake.name}.ts") == [(marked, mistake.code)]


def test_the_typed_calls_answer_as_typed(project: Path, emulator: Emulator) -> None:
    # Vitest's global project, with the URL of this checkout's emulator instead of one the
    # globalSetup starts from the executable.
    config = project / "vitest.types.config.mjs"
    config.write_text(
        'import { defineConfig } from "vitest/config";\n'
        "export default defineConfig({ test: {\n"
        '  include: ["test/global/typed-calls.test.ts"],\n'
        "  provide: { harborUrl: process.env.HARBOR_URL },\n"
        "} });\n"
    )
    vitest = ["npx", "--no-install", "vitest", "run", "--config", config.name]
    result = run(vitest, project, HARBOR_URL=emulator.url)
    assert re.search(r"Tests\s+4 passed \(4\)", result.stdout), result.stdout
