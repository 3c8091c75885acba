"""The `harbor-emulator` command group: `start` serves; every other command drives a running
emulator over its control API (remote.py holds what they share)."""

from __future__ import annotations

import click

from .. import __version__
from . import check, fixtures, listen, sinks, state, tail, traffic
from .remote import connection_options
from .start import start

ENVIRONMENT_HELP = """\b
Environment variables:
  HARBOR_EMULATOR_URL            --url of every command but start
  HARBOR_EMULATOR_CONTROL_TOKEN  --control-token (start: the token to require)
  HARBOR_EMULATOR_<OPTION>       every start option, e.g. HARBOR_EMULATOR_PORT=0
  HARBOR_API_KEY                 --key of trigger

--url and --control-token go before or after any command's name."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=ENVIRONMENT_HELP)
@click.version_option(__version__, "--version", prog_name="harbor-emulator")
@connection_options
def main() -> None:
    """A local emulator of the Harbor events and webhooks API."""


for _command in (start, *state.COMMANDS, *fixtures.COMMANDS, *sinks.COMMANDS, *traffic.COMMANDS):
    main.add_command(_command)
for _command in (*listen.COMMANDS, *tail.COMMANDS, *check.COMMANDS):
    main.add_command(_command)


def _show_envvars(command: click.Command) -> None:
    """Every option read from the environment says so in its help."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    for sub in getattr(command, "commands", {}).values():
        _show_envvars(sub)


_show_envvars(main)
