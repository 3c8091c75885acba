"""`fixtures load` and `fixtures export`: the emulator's state as a document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..client import Emulator, HarborAPIError
from .remote import RemoteGroup, fail, json_option, pass_emulator, plural, print_json

FIXTURE_KINDS = (
    ("workspaces", "workspace"),
    ("api_keys", "API key"),
    ("webhooks", "webhook"),
    ("destinations", "destination"),
    ("subscriptions", "subscription"),
    ("events", "event"),
    ("deliveries", "delivery"),
)


def _counts(summary: dict[str, Any]) -> str:
    parts = [plural(int(summary.get(k) or 0), noun) for k, noun in FIXTURE_KINDS if summary.get(k)]
    return ", ".join(parts) or "nothing"


@click.group(cls=RemoteGroup)
def fixtures() -> None:
    """Load or export fixtures documents."""


@fixtures.command("load")
@click.argument(
    "files",
    metavar="FILE...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@json_option
@pass_emulator
def fixtures_load(emulator: Emulator, files: tuple[Path, ...], as_json: bool) -> None:
    """Load YAML or JSON fixtures FILEs in order, each all or nothing; stop at the first
    invalid one (the files before it stay loaded)."""
    loaded: list[dict[str, Any]] = []
    for file in files:
        try:
            summary = emulator.load_fixtures(file)
        except HarborAPIError as exc:
            if as_json:
                print_json(loaded)
            # The server names the entry and field; only we know which file it came from.
            # (Errors found here, in reading the file, name it already.)
            message = exc.message.removeprefix("request body: ").removeprefix(f"{file}: ")
            fail(f"{file}: {exc.code}: {message}")
        loaded.append({"file": str(file), "loaded": summary})
        if not as_json:
            click.echo(f"loaded {file}: {_counts(summary)}")
    if as_json:
        print_json(loaded)


@fixtures.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@json_option
@pass_emulator
def fixtures_export(emulator: Emulator, file: Path | None, as_json: bool) -> None:
    """Write the whole state as a fixtures document to FILE (.yaml/.yml for YAML, else
    JSON), or print it as JSON."""
    document = emulator.export()
    if file is not None:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml  # only this path needs it

            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        else:
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        file.write_text(text, "utf-8")
    if file is None or as_json:
        print_json(document)
    else:
        counted = {kind: len(document.get(kind) or ()) for kind, _ in FIXTURE_KINDS}
        click.echo(f"exported to {file}: {_counts(counted)}")


COMMANDS: tuple[click.Command, ...] = (fixtures,)
