"""docs/install.md's published names are the ones .github/workflows/release.yml makes, and
no page tells a reader to fill in a placeholder.

What works today (a clone) is run by the tests the page names; this checks the other half:
that the names a release will publish (the assets, the image, the packages) are stated as
the workflow produces them, so the first release makes the docs true as written.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import harbor_emulator

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
INSTALL = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
RELEASE = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
IMAGE = "ghcr.io/harbor-emulator/harbor-emulator"
RELEASES = "https://github.com/harbor-emulator/harbor-emulator/releases/"
# An install step a reader would have to complete: `<registry>/…`, `<release asset URL …>`,
# `pip install /path/to/…` (a path to one's own build, as node.md's HARBOR_EMULATOR_BINARY,
# is the reader's to choose, not a gap).
PLACEHOLDER = re.compile(
    r"<(?:registry|release[^>]*)>|(?:pip install|npm i -D|docker pull) /path/to/", re.IGNORECASE
)


def _release_assets() -> set[str]:
    """The executables the release attaches: `harbor-emulator-<platform>`, `.exe` on Windows."""
    matrix = RELEASE["jobs"]["binary"]["strategy"]["matrix"]["include"]
    return {
        f"harbor-emulator-{row['platform']}{'.exe' if row['exe'].endswith('.exe') else ''}"
        for row in matrix
    }


def test_the_asset_table_lists_what_the_release_attaches() -> None:
    listed = set(re.findall(r"^\| `(harbor-emulator-[\w.-]+)` \|", INSTALL, re.MULTILINE))
    assert listed == _release_assets()


def test_download_urls_name_release_assets() -> None:
    for doc in DOCS:
        for url in re.findall(rf"{re.escape(RELEASES)}\S+", doc.read_text(encoding="utf-8")):
            name = url.rstrip(")`").rsplit("/", 1)[1]
            if name != "releases":
                assert name in _release_assets(), f"{doc.name}: {url}"
            tag = re.search(r"/download/(v[^/]+)/", url)
            assert tag is None or tag.group(1) == f"v{harbor_emulator.__version__}", url


def test_the_image_name_is_the_one_the_release_pushes() -> None:
    steps = RELEASE["jobs"]["container"]["steps"]
    (naming,) = [step for step in steps if step.get("id") == "image"]
    assert "ghcr.io/${GITHUB_REPOSITORY,,}" in naming["run"]
    for doc in DOCS:
        for image in re.findall(r"ghcr\.io/[\w./-]+(?::[\w.]+)?", doc.read_text("utf-8")):
            name, _, tag = image.partition(":")
            assert name == IMAGE, f"{doc.name}: {image}"
            assert tag in ("", harbor_emulator.__version__, "latest"), f"{doc.name}: {image}"


def test_no_page_asks_the_reader_to_fill_in_a_placeholder() -> None:
    found = {
        f"{doc.name}: {match.group(0)}"
        for doc in DOCS
        for match in PLACEHOLDER.finditer(doc.read_text(encoding="utf-8"))
    }
    assert not found, found


def test_install_md_says_nothing_is_published_yet_and_how_to_install_from_a_clone() -> None:
    assert "Nothing is published yet" in INSTALL
    for command in (
        "pip install ../harbor-emulator",
        "scripts/build_npm",
        "docker build --target prebuilt",
        "scripts/build_binary",
    ):
        assert command in INSTALL, command


def test_the_tarballs_install_md_names_are_this_versions() -> None:
    """scripts/build_npm names them `<package>-<version>.tgz`; a bump must update the page."""
    tarballs = re.findall(r"dist/npm/(harbor-emulator[\w-]*?)-(\d[\w.]*)\.tgz", INSTALL)
    assert tarballs, "install.md names no tarball"
    assert {version for _, version in tarballs} == {harbor_emulator.__version__}, tarballs
