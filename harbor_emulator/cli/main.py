"""The `harbor-emulator` command group: `start` serves; every other command drives a running
emulator over its control API (remote.py holds what they share)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import click

from .. import __version__
from .remote import connection_options

# The modules whose COMMANDS the group offers, `start` first: a command's module is imported
# when the command is looked up, trying them in this order, so `start` imports nothing of
# the others' and `--version` none at all (click's LazyGroup pattern, by module).
COMMAND_MODULES = (
    "start",
    "state",
    "fixtures",
    "sinks",
    "traffic",
    "listen",
    "tail",
    "chaos",
    "check",
)

ENVIRONMENT_HELP = """\b
Environment variables:
  HARBOR_EMULATOR_URL            --url of every command but start
  HARBOR_EMULATOR_CONTROL_TOKEN  --control-token (start: the token to require)
  HARBOR_EMULATOR_<OPTION>       every start option, e.g. HARBOR_EMULATOR_PORT=0
  HARBOR_API_KEY                 --key of trigger

--url and --control-token go before or after any command's name."""


class LazyGroup(click.Group):
    """A group whose commands live in COMMAND_MODULES, imported as they are looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(command.name for command in self._commands() if command.name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return next((command for command in self._commands() if command.name == cmd_name), None)

    def _commands(self) -> Iterator[click.Command]:
        for name in COMMAND_MODULES:
            module = importlib.import_module(f"{__package__}.{name}")
            for command in module.COMMANDS:
                _show_envvars(command)
                yield command


def _show_envvars(command: click.Command) -> None:
    """Every option read from the environment says so in its help."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    for sub in getattr(command, "commands", {}).values():
        _show_envvars(sub)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=ENVIRONMENT_HELP,
)
@click.version_option(__version__, "--version", prog_name="harbor-emulator")
@connection_options
def main() -> None:
    """A local emulator of the Harbor events and webhooks API."""


_show_envvars(main)
