"""`chaos`: at-least-once delivery on purpose, for one endpoint (docs/chaos.md)."""

from __future__ import annotations

from typing import Any

import click

from ..client import DEFAULT_MAX_DELAY_SECONDS, Emulator
from .durations import parse_words
from .remote import RemoteCommand, fail, json_option, pass_emulator, print_json, table

PROBABILITY = click.FloatRange(0, 1)


def _describe(fault: dict[str, Any]) -> str:
    if fault["outcome"] == "delay":
        return f"delay {fault['delay_seconds']}s"
    return str(fault["outcome"])


@click.command(cls=RemoteCommand)
@click.argument("endpoint_id")
@click.argument("clear_id", metavar="", required=False)
@click.option(
    "--ack-lost",
    type=PROBABILITY,
    help="Probability that an attempt is delivered, then recorded as a timeout whatever the "
    "receiver answered: the same delivery comes again at the next retry.",
)
@click.option(
    "--duplicate",
    type=PROBABILITY,
    help="Probability that an attempt is sent twice at once (same id, body and attempt).",
)
@click.option(
    "--delay",
    type=PROBABILITY,
    help="Probability that an attempt goes out late (up to --max-delay of emulator time), "
    "so later events' deliveries overtake it.",
)
@click.option(
    "--max-delay",
    default=f"{DEFAULT_MAX_DELAY_SECONDS // 60}m",
    show_default=True,
    help="The longest --delay (90s, 10m, 1h…); a delayed attempt is late by 1/4, 2/4, 3/4 "
    "or all of it, drawn per attempt.",
)
@click.option("--seed", type=int, help="Seed the draws, to repeat the same chaos.")
@json_option
@pass_emulator
def chaos(
    emulator: Emulator,
    endpoint_id: str,
    clear_id: str | None,
    ack_lost: float | None,
    duplicate: float | None,
    delay: float | None,
    max_delay: str,
    seed: int | None,
    as_json: bool,
) -> None:
    """Make deliveries to ENDPOINT_ID (wh_… or dest_…) arrive the way at-least-once delivery
    allows: lost acknowledgements, duplicates, out of order. `chaos clear ENDPOINT_ID`
    removes them.

    \b
      harbor-emulator chaos wh_123 --ack-lost 0.2 --duplicate 0.1 --delay 0.3 --seed 7
      harbor-emulator chaos clear wh_123
    """
    if endpoint_id == "clear":
        if clear_id is None:
            fail("missing_parameter: chaos clear needs the ENDPOINT_ID to clear.")
        removed = emulator.faults.clear_chaos(clear_id)
        if as_json:
            print_json({"object": "chaos", "endpoint_id": clear_id, "removed": removed})
        else:
            click.echo(f"removed {removed} chaos fault{'' if removed == 1 else 's'} of {clear_id}")
        return
    if clear_id is not None:
        fail(f"invalid_parameter: unexpected argument {clear_id!r} after {endpoint_id}.")
    try:
        max_delay_seconds = round(parse_words(max_delay))
        created = emulator.faults.chaos(
            endpoint_id,
            ack_lost=ack_lost,
            duplicate=duplicate,
            delay=delay,
            max_delay=max_delay_seconds,
            seed=seed,
        )
    except ValueError as exc:
        fail(f"invalid_parameter: {exc}")
    if as_json:
        print_json({"object": "list", "data": created})
        return
    table(
        ("ID", "ENDPOINT", "OUTCOME", "PROBABILITY", "SEED"),
        (
            (
                fault["id"],
                fault["endpoint_id"],
                _describe(fault),
                f"{fault['probability']:.4g}",
                "emulator" if fault["seed"] is None else fault["seed"],
            )
            for fault in created
        ),
    )


COMMANDS: tuple[click.Command, ...] = (chaos,)
