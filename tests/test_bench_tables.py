"""The benchmark tables in docs/performance.md are the committed runs' own, not typed by hand.

Every `<!-- bench:NAME -->` block of the page must be the Markdown rendered from
docs/benchmarks/NAME.json (which names the run's date, machine and command), NAME.md must
be that same Markdown, and the JSON's tables must be what its bench makes of its figures.
Measured figures outside those blocks fail too. Timings are never asserted.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
PAGE = ROOT / "docs" / "performance.md"
TABLES = ROOT / "docs" / "benchmarks"
# A figure with a unit of time, size or rate: what a benchmark measures. Prose may say
# "72 h" or "20,000 allocations"; a measured figure belongs in a table.
MEASURED = re.compile(r"\d[\d,.]*\s?(?:ms|µs|us|s|MB|KB|GB|B per \w+|req/s|[a-z]+/s|x)(?![\w/])")


@pytest.fixture(scope="module")
def tables() -> Iterator[ModuleType]:
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module("_bench_tables")
    finally:
        sys.path.remove(str(SCRIPTS))


def _committed() -> list[str]:
    return sorted(path.stem for path in TABLES.glob("*.json"))


def test_every_committed_table_is_on_the_page_as_rendered_from_its_json(tables: ModuleType) -> None:
    page = PAGE.read_text(encoding="utf-8")
    blocks = tables.embedded(page)
    assert sorted(blocks) == _committed() and blocks, (sorted(blocks), _committed())
    assert tables.stale(page, TABLES) == []
    for name, block in blocks.items():
        data = tables.load(TABLES, name)
        assert block == tables.render_markdown(data)
        assert (TABLES / f"{name}.md").read_text(encoding="utf-8") == block
        # Each table says when, where and how it was measured.
        assert data["date"].replace("T", " ").removesuffix("Z") + " UTC" in block
        assert f"`{data['command']}`" in block
        assert data["command"].startswith(f"python scripts/bench_{name.split('-')[0]}.py")
        assert data["machine"]["cpu"] in block and f"{data['machine']['cpus']} CPUs" in block
        assert data["machine"]["python"] in block


def test_committed_tables_are_made_from_their_figures(tables: ModuleType) -> None:
    for name in _committed():
        data = tables.load(TABLES, name)
        assert data["tables"] == tables.remade_tables(data), name


def test_no_measured_figure_on_the_page_outside_the_tables(tables: ModuleType) -> None:
    page = PAGE.read_text(encoding="utf-8")
    for body in tables.embedded(page).values():
        page = page.replace(body, "")
    assert MEASURED.findall(page) == []


def test_a_hand_edited_figure_is_stale(tables: ModuleType) -> None:
    page = PAGE.read_text(encoding="utf-8")
    name, block = next(iter(tables.embedded(page).items()))
    row = [line for line in block.splitlines() if line.startswith("| ")][2]  # the first figures
    # The row's last digit, one more: what a hand edit of a figure looks like.
    edited_row = re.sub(r"\d(?=\D*$)", lambda digit: str((int(digit[0]) + 1) % 10), row)
    assert tables.stale(page.replace(row, edited_row), TABLES) == [name]


def test_a_run_writes_json_and_markdown_that_name_date_machine_and_command(
    tables: ModuleType, tmp_path: Path
) -> None:
    run = tables.Run("bench_demo.py", ["--label", "two words"])

    def demo_tables(figures: dict[str, float]) -> list[Any]:
        rows = [[name, tables.fmt(value, 1)] for name, value in figures.items()]
        return [tables.Table(["step", "ms | median"], rows, title="Demo.", notes=["A note."])]

    json_path, md_path = run.write(tmp_path, "demo", "Demo", {"save": 1234.56}, demo_tables)
    data = json.loads(json_path.read_text())
    assert data["command"] == "python scripts/bench_demo.py --label 'two words'"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["date"])
    assert data["machine"]["cpus"] == os.cpu_count()
    assert data["machine"]["python"].endswith(".".join(map(str, sys.version_info[:3])))
    assert data["figures"] == {"save": 1234.56}
    assert data["tables"] == [
        {"columns": ["step", "ms | median"], "rows": [["save", "1,234.6"]], "title": "Demo.",
         "notes": ["A note."]}
    ]  # fmt: skip
    markdown = md_path.read_text()
    assert markdown == tables.render_markdown(data)
    assert "| step | ms \\| median |\n| --- | --- |\n| save | 1,234.6 |\n\n- A note.\n" in markdown
    assert f"`{data['command']}`" in markdown and data["machine"]["os"] in markdown


def test_embed_fills_each_block_and_names_a_missing_run(tables: ModuleType, tmp_path: Path) -> None:
    tables.Run("bench_demo.py", []).write(
        tmp_path, "demo", "Demo", {}, lambda _f: [tables.Table(["a"], [["1"]])]
    )
    page = "Intro.\n\n<!-- bench:demo -->\nold figures\n<!-- /bench:demo -->\n\nMore.\n"
    filled = tables.embed(page, tmp_path)
    assert filled.startswith("Intro.\n\n<!-- bench:demo -->\n\n**Demo**")
    assert filled.endswith("| 1 |\n\n<!-- /bench:demo -->\n\nMore.\n")
    assert tables.embedded(filled) == {"demo": (tmp_path / "demo.md").read_text()}
    assert tables.stale(filled, tmp_path) == [] and tables.stale(page, tmp_path) == ["demo"]
    with pytest.raises(FileNotFoundError, match="--write"):
        tables.embed(page.replace("demo", "other"), tmp_path)


def test_bench_embed_check_and_embed(tmp_path: Path) -> None:
    page = tmp_path / "performance.md"
    page.write_text(PAGE.read_text(encoding="utf-8").replace("| ", "|  ", 1))

    def embed(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, str(SCRIPTS / "bench_embed.py"), "--page", str(page), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    checked = embed("--check")
    assert checked.returncode == 1 and "not the tables of" in checked.stderr
    assert embed().returncode == 0
    assert page.read_text() == PAGE.read_text(encoding="utf-8")
    assert embed("--check").returncode == 0


def test_a_snapshots_run_writes_its_table(tables: ModuleType, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable, str(SCRIPTS / "bench_snapshots.py"),
            "--endpoints", "20", "--events", "50", "--rounds", "1", "--write", str(tmp_path),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    data = tables.load(tmp_path, "snapshots")
    assert data["figures"]["events"] == 50 and data["figures"]["snapshot_bytes"] > 0
    assert [row[0] for row in data["tables"][0]["rows"]] == [
        "reset + fixtures load",
        "snapshot save",
        "snapshot restore",
        "reset + load / restore (medians)",
    ]
    assert data["tables"] == tables.remade_tables(data)
    assert (tmp_path / "snapshots.md").read_text() == tables.render_markdown(data)


def test_retable_remakes_tables_from_the_figures(tables: ModuleType, tmp_path: Path) -> None:
    """A hand-edited cell in a JSON's tables is replaced by what the bench makes of the
    figures, and the page gets the result."""
    (tmp_path / "benchmarks").mkdir()
    for path in TABLES.iterdir():
        (tmp_path / "benchmarks" / path.name).write_bytes(path.read_bytes())
    json_path = tmp_path / "benchmarks" / "inprocess.json"
    data = json.loads(json_path.read_text())
    data["tables"][0]["rows"][0][1] = "0.1"
    json_path.write_text(json.dumps(data))
    page = tmp_path / "performance.md"
    page.write_text(PAGE.read_text(encoding="utf-8"))

    argv = [sys.executable, str(SCRIPTS / "bench_embed.py"), "--page", str(page)]
    argv += ["--tables", str(tmp_path / "benchmarks")]
    assert subprocess.run([*argv, "--check"], capture_output=True, timeout=60).returncode == 1
    done = subprocess.run([*argv, "--retable"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(json_path.read_text()) == tables.load(TABLES, "inprocess")
    assert page.read_text() == PAGE.read_text(encoding="utf-8")
