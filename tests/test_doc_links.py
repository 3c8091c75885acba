"""Every relative link of README.md and docs/*.md reaches a file, and its #anchor a heading.

The README sends each kind of reader to a page and the pages send them on to each other's
sections; a page renamed or a heading reworded would otherwise leave a link that 404s or
lands at the top of the page without a word.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); a target has no spaces (the pages never title links).
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The page without fenced blocks and code spans: `# comments` there are not headings."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a page's headings, repeats numbered as GitHub numbers them."""
    found: set[str] = set()
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    for heading in _HEADING.findall(text):
        slug, n = _slug(heading), 0
        while (candidate := slug if n == 0 else f"{slug}-{n}") in found:
            n += 1
        found.add(candidate)
    return found


def links(page: str) -> list[str]:
    return _LINK.findall(_prose((REPO / page).read_text(encoding="utf-8")))


def test_the_slug_is_githubs() -> None:
    assert _slug("Emulators with flags: `harbor_factory`") == "emulators-with-flags-harbor_factory"
    assert _slug("Faults: `/_control/faults`") == "faults-_controlfaults"
    assert _slug("When things go wrong") == "when-things-go-wrong"


@pytest.mark.parametrize("page", PAGES)
def test_relative_links_reach_a_file_and_a_heading(page: str) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …: not ours to check
            continue
        path_part, _, anchor = target.partition("#")
        path = (REPO / page).parent / path_part if path_part else REPO / page
        if not path.exists():
            broken.append(f"{target}: no file {path.relative_to(REPO)}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(REPO)}")
    assert not broken, f"{page}: {broken}"
