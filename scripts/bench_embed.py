"""Put the latest benchmark tables into docs/performance.md.

Each `<!-- bench:NAME -->` ... `<!-- /bench:NAME -->` block of the page gets the Markdown of
docs/benchmarks/NAME.json, the file a bench wrote with `--write docs/benchmarks`: the
tables, and the date, machine and command of the run that measured them.

Examples:
    python scripts/bench_embed.py             # rewrite the blocks from the JSON files
    python scripts/bench_embed.py --check     # exit 1 naming each block that differs
    python scripts/bench_embed.py --retable   # first remake each JSON's tables and NAME.md
                                              # from its figures with the benches' code
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _bench_tables import (
    PERFORMANCE_PAGE,
    TABLES_DIR,
    embed,
    embedded,
    load,
    remade_tables,
    save,
    stale,
)


def retable(directory: Path, names: list[str]) -> None:
    """After a change to how a bench lays out its tables: the same figures, new tables."""
    for name in names:
        data = load(directory, name)
        data["tables"] = remade_tables(data)
        save(directory, data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=Path, default=PERFORMANCE_PAGE, help="the page to fill")
    parser.add_argument(
        "--tables", type=Path, default=TABLES_DIR, help="where the NAME.json files are"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    mode.add_argument(
        "--retable",
        action="store_true",
        help="remake the tables of each embedded NAME.json from its figures, then embed",
    )
    args = parser.parse_args(argv)

    page = args.page.read_text(encoding="utf-8")
    names = sorted(embedded(page))
    try:
        if args.check:
            if outdated := stale(page, args.tables):
                print(
                    f"{args.page}: not the tables of {', '.join(outdated)}: "
                    "run python scripts/bench_embed.py",
                    file=sys.stderr,
                )
                return 1
            return 0
        if args.retable:
            retable(args.tables, names)
        args.page.write_text(embed(page, args.tables), encoding="utf-8")
    except FileNotFoundError as missing:
        print(f"bench_embed: {missing}", file=sys.stderr)
        return 2
    print(f"{args.page}: embedded {', '.join(names) or 'nothing (no markers)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
