"""The tables a benchmark run writes, and how docs/performance.md embeds them.

With `--write DIR`, a bench writes two files for its table set NAME:

- NAME.json: the run's figures as the bench reports them, the tables made from them, the
  date in UTC, the machine (CPU model and count, OS, Python), the load average around the
  run and the exact command line;
- NAME.md: those tables in Markdown, rendered from the JSON by `render_markdown`.

scripts/bench_embed.py puts the rendering of each NAME.json between `<!-- bench:NAME -->`
and `<!-- /bench:NAME -->` in docs/performance.md, so no figure there is typed by hand;
tests/test_bench_tables.py holds the page, the Markdown and the JSON to each other.

Imported as `_bench_tables` by scripts run as `python scripts/bench_….py`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
TABLES_DIR = REPO_ROOT / "docs" / "benchmarks"
PERFORMANCE_PAGE = REPO_ROOT / "docs" / "performance.md"
# A 1-minute load average above this, before the run, means other work shared the cores.
BUSY_LOAD = 1.0

_BLOCK = re.compile(
    r"(?P<open><!-- bench:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(?P<close><!-- /bench:(?P=name) -->)",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Table:
    """One Markdown table: a header row and rows of text cells, numbers already formatted."""

    columns: list[str]
    rows: list[list[str]]
    title: str = ""
    notes: list[str] = field(default_factory=list)


def add_write_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write",
        type=Path,
        metavar="DIR",
        default=None,
        help="also write this run's tables to DIR as NAME.json and NAME.md (docs/benchmarks "
        "for the committed ones; then scripts/bench_embed.py puts them in docs/performance.md)",
    )


class Run:
    """The facts about a run that are not its figures: when, where and how it was started.

    Made when the bench starts, so the date and the load before are the run's own."""

    def __init__(self, script: str, argv: Sequence[str] | None) -> None:
        self.command = shlex.join(
            ["python", f"scripts/{Path(script).name}", *(sys.argv[1:] if argv is None else argv)]
        )
        self.started_at = datetime.now(UTC)
        self.load_before = os.getloadavg()[0]

    def write(
        self,
        directory: Path,
        name: str,
        title: str,
        figures: Any,
        tables_of: Callable[[Any], list[Table]],
    ) -> tuple[Path, Path]:
        """Write NAME.json and NAME.md into `directory`; return their paths.

        The tables are made by `tables_of` from the figures as the JSON holds them, as a
        test remakes them from the committed file."""
        figures = json.loads(json.dumps(figures))
        data = {
            "bench": name,
            "title": title,
            "date": self.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": self.command,
            "machine": machine(),
            "load_average": {
                "before": round(self.load_before, 2),
                "after": round(os.getloadavg()[0], 2),
            },
            "tables": [asdict(table) for table in tables_of(figures)],
            "figures": figures,
        }
        paths = save(directory, data)
        print(f"wrote {paths[0]} and {paths[1]}", file=sys.stderr)
        return paths


def save(directory: Path, data: dict[str, Any]) -> tuple[Path, Path]:
    """Write a table set's NAME.json and its Markdown, NAME.md."""
    directory.mkdir(parents=True, exist_ok=True)
    name = data["bench"]
    json_path, md_path = directory / f"{name}.json", directory / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(data), encoding="utf-8")
    return json_path, md_path


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


# -- Markdown -----------------------------------------------------------------------------


def render_markdown(data: dict[str, Any]) -> str:
    """The Markdown of a NAME.json: where the figures come from, then each table."""
    box = data["machine"]
    load = data["load_average"]
    busy = (
        ": other work shared the machine, so a ratio to a baseline of the same run says more "
        "than an absolute figure"
        if load["before"] > BUSY_LOAD
        else ""
    )
    date = data["date"].replace("T", " ").removesuffix("Z") + " UTC"
    lines = [
        f"**{data['title']}**",
        "",
        f"Run on {date} with `{data['command']}`; machine: {box['cpu']}, {box['cpus']} CPUs, "
        f"{box['os']}, {box['python']}; load average (1 min) {load['before']:.2f} before the "
        f"run, {load['after']:.2f} after{busy}.",
    ]
    for table in data["tables"]:
        lines.append("")
        if table["title"]:
            lines += [table["title"], ""]
        lines.append(_row(table["columns"]))
        lines.append(_row(["---"] * len(table["columns"])))
        lines += [_row(row) for row in table["rows"]]
        if table["notes"]:
            lines += ["", *(f"- {note}" for note in table["notes"])]
    return "\n".join(lines) + "\n"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


# -- embedding in docs/performance.md ----------------------------------------------------


def load(directory: Path, name: str) -> dict[str, Any]:
    path = directory / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the bench with --write {directory}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def embedded(page: str) -> dict[str, str]:
    """NAME -> the Markdown the page holds between its NAME markers."""
    return {
        match["name"]: match["body"].removeprefix("\n").removesuffix("\n")
        for match in _BLOCK.finditer(page)
    }


def embed(page: str, directory: Path) -> str:
    """The page with each marked block replaced by the Markdown of its NAME.json."""

    def fill(match: re.Match[str]) -> str:
        body = render_markdown(load(directory, match["name"]))
        return f"{match['open']}\n{body}\n{match['close']}"

    return _BLOCK.sub(fill, page)


def stale(page: str, directory: Path) -> list[str]:
    """The NAMEs whose block in `page` is not the Markdown of their NAME.json."""
    return [
        name
        for name, body in embedded(page).items()
        if body != render_markdown(load(directory, name))
    ]


def remade_tables(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The tables of a NAME.json made again from its figures by its bench's current code
    (the bench's `tables`); needs scripts/ on sys.path, as a script run from there has."""
    script = Path(shlex.split(data["command"])[1])
    module = importlib.import_module(script.stem)
    tables: list[Table] = module.tables(data["figures"])
    return [asdict(table) for table in tables]


def fmt(value: float | None, digits: int = 0) -> str:
    """A figure as the tables print it: thousands separated, `-` when not measured."""
    return "-" if value is None else f"{value:,.{digits}f}"


def target_notes(targets: list[dict[str, Any]]) -> list[str]:
    """A note per target of a report's JSON (`name`, `value`, `goal`, `met`, maybe `note`)."""
    notes = []
    for target in targets:
        if target["met"] is None:
            outcome = f"not measured: {target.get('note', '')}"
        else:
            outcome = f"{target['value']:g}, {'met' if target['met'] else 'MISSED'}"
        notes.append(f"Target {target['name']} {target['goal']}: {outcome}.")
    return notes
