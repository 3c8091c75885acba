"""docs/ci.md's snippets at least parse: CI providers reject a broken YAML file whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

CI_DOC = Path(__file__).resolve().parents[1] / "docs" / "ci.md"
YAML_BLOCKS = re.findall(r"^```yaml\n(.*?)^```", CI_DOC.read_text(), re.MULTILINE | re.DOTALL)


def test_ci_doc_has_the_four_set_ups() -> None:
    assert len(YAML_BLOCKS) == 4


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=lambda block: block.split(":", 1)[0])
def test_yaml_snippet_parses_to_a_mapping(block: str) -> None:
    assert isinstance(yaml.safe_load(block), dict)
