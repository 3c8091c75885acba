"""`check-receiver`: is a webhook handler ready for Harbor? (POST /_control/receiver-checks)

Exit status 0 when every must check passes, 1 when one fails, 2 when nothing answered at
the receiver's URL (or the emulator could not be reached). `--junit FILE` writes one
testcase per check: a fail is a <failure>; a warn is a passing testcase whose <system-out>
starts with WARN, since warnings do not fail the check (a <skipped> would say it never ran).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click

from ..client import Emulator, ReceiverCheckReport
from .remote import (
    EXIT_API_ERROR,
    EXIT_UNREACHABLE,
    RemoteCommand,
    json_option,
    pass_emulator,
    print_json,
)


def _payload(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from None


@click.command("check-receiver", cls=RemoteCommand)
# Not `url`: that is the emulator's --url, taken by every remote command.
@click.argument("receiver_url", metavar="URL")
@click.option(
    "--secret",
    required=True,
    envvar="HARBOR_WEBHOOK_SECRET",
    show_envvar=True,
    help="The endpoint secret (whsec_…) the receiver verifies signatures with.",
)
@click.option(
    "--type",
    "event_type",
    default=None,
    help="Event type of the deliveries (default receiver_check.ping); use one it handles.",
)
@click.option(
    "--payload",
    default=None,
    callback=_payload,
    help='The event payload as JSON (default {"sent_by": "…", "amount": 42.0}).',
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a JUnit XML report: one testcase per check.",
)
@json_option
@pass_emulator
def check_receiver(
    emulator: Emulator,
    receiver_url: str,
    secret: str,
    event_type: str | None,
    payload: Any,
    junit: Path | None,
    as_json: bool,
) -> None:
    """Send deliveries built like Harbor's to URL and report what a ready receiver does:
    verify signatures and timestamps, dedupe redeliveries, answer 2xx fast.

    Exit status 0 when every must check passes, 1 when one fails, 2 when nothing answers
    at URL. The checks and example receivers: docs/receivers.md."""
    report = emulator.check_receiver(receiver_url, secret, event_type=event_type, payload=payload)
    if junit is not None:
        junit.write_bytes(junit_xml(report))
    if as_json:
        print_json(report.json)
    else:
        click.echo(str(report))
    if not report.reachable:
        detail = report.check("valid").received.get("detail") or "no answer"
        click.echo(f"error: receiver_unreachable: {detail}", err=True)
        raise click.exceptions.Exit(EXIT_UNREACHABLE)
    if not report.passed:
        names = ", ".join(check.name for check in report.failed)
        click.echo(f"error: receiver_not_ready: failed {names}", err=True)
        raise click.exceptions.Exit(EXIT_API_ERROR)


def junit_xml(report: ReceiverCheckReport) -> bytes:
    suite = ET.Element(
        "testsuite",
        name=f"harbor receiver check {report.url}",
        tests=str(len(report.checks)),
        failures=str(len(report.failed)),
        errors="0",
        skipped="0",
        time=f"{sum(check.ms for check in report.checks if check.name != 'fast') / 1000:.3f}",
    )
    for check in report.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="harbor.receiver_check",
            name=check.name,
            time=f"{check.ms / 1000:.3f}",
        )
        sent = check.sent["summary"] if check.sent else "nothing"
        got = check.received.get("error") or check.status
        text = f"sent {sent}; expected {check.expected}, got {got}\n{check.hint}"
        if check.received.get("detail"):
            text += f"\n{check.received['detail']}"
        if check.result == "fail":
            failure = ET.SubElement(case, "failure", message=check.hint, type="receiver_check")
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = (
                "WARN " if check.result == "warn" else ""
            ) + text
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="utf-8", xml_declaration=True)


COMMANDS: tuple[click.Command, ...] = (check_receiver,)
