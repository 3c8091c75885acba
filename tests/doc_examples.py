"""The docs' shell examples as a user pastes them: found, split into commands, run in bash.

tests/test_readme_examples.py holds what each example must answer; this module only finds the
examples and runs them. A document's examples run in one bash process, in order, so variables
a block sets (`E=…; K=…`) stay for the next commands, as in a terminal. `curl` is the real
binary behind a shell function that adds `--write-out` to stderr, so the HTTP status is
recorded while the printed answer stays exactly what the user sees.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import skip_policy

# Fenced blocks in the shell languages, and any other fenced block that mentions curl or the
# CLI: those are examples too, and each must be run or excluded by name.
_FENCE = re.compile(r"^```([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
_MENTIONS_A_COMMAND = re.compile(r"\bcurl\b|\bharbor-emulator\b")

# An id the text leaves open, `evt_…` or `wh_01HX…`: the prefix, then `…`.
_PLACEHOLDER = re.compile(r"\b(evt|wh|dest|dlv|sub|key|flt|ws)_[0-9A-Za-z]*…")
# A real id: prefix + 26 Crockford base32 characters (ids.py), time-sortable as text.
_REAL_ID = re.compile(r"\b(evt|wh|dest|dlv|sub|key|flt|req)_[0-9A-HJKMNP-TV-Z]{26}\b")

_STATUS_MARK = "@@http_status "
_DONE_MARK = b"@@done\n"
# A bound on one command so a hang fails the test instead of freezing it; never reached by
# a command that works (the slowest, `drain --timeout 10`, returns in well under a second).
COMMAND_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block of a document."""

    source: str  # "README.md", "docs/cli.md", "seeds/002"
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    # How the test's table names the block: its document and its first line (`_head`), then
    # ` [2]`, ` [3]`, … for later blocks of the document with the same first line.
    key: str


def doc_blocks(path: Path, source: str) -> list[Block]:
    """Every fenced block of `path` that is a shell example or mentions curl or the CLI."""
    text = path.read_text(encoding="utf-8")
    blocks: list[Block] = []
    for match in _FENCE.finditer(text):
        language, body = match.group(1).lower(), match.group(2)
        if language in _SHELL_LANGUAGES or _MENTIONS_A_COMMAND.search(body):
            line = text.count("\n", 0, match.start()) + 1
            key = f"{source}: {_head(body)}"
            same = sum(1 for b in blocks if b.key == key or b.key.startswith(f"{key} ["))
            blocks.append(
                Block(source, line, language, body, key + (f" [{same + 1}]" if same else ""))
            )
    return blocks


def _head(body: str) -> str:
    """A block's first line, short: no trailing comment or `\\`, blanks folded, 60 characters."""
    first = next((row.strip() for row in body.splitlines() if row.strip()), "")
    if not first.startswith("#"):
        first = re.sub(r"\s+#\s.*$", "", first)
    first = " ".join(first.removesuffix("\\").split())
    return first if len(first) <= 60 else first[:60] + "…"


def split_commands(text: str) -> list[str]:
    """The top-level commands of a shell block, each with its own continuation lines.

    A newline ends a command unless it is inside quotes or escaped by a backslash; a `#` at
    the start of a word outside quotes starts a comment, which is dropped. Enough for the
    docs' examples (no here-documents, no `$( … )` spanning lines).
    """
    commands: list[str] = []
    current: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            current.append(char)
            if char == "\\" and quote == '"' and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif char == quote:
                quote = ""
        elif char == "\\" and i + 1 < len(text):
            current.append(char + text[i + 1])
            i += 1
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == "#" and (not current or current[-1][-1:].isspace()):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        elif char == "\n":
            command = "".join(current).strip()
            if command:
                commands.append(command)
            current = []
        else:
            current.append(char)
        i += 1
    command = "".join(current).strip()
    if command:
        commands.append(command)
    return commands


def normalized(command: str) -> str:
    """A command on one line, continuations and runs of blanks folded, for comparing."""
    return " ".join(command.replace("\\\n", " ").split())


# seeds/002 and 003 are web pages flattened to text: a curl command's line breaks became
# `\ ` (seeds/002, several on one line) or stayed (seeds/003), and the prose goes on right
# after its last argument (`…}'The response includes`). A command is `curl` followed by the
# argument forms those docs use; the first thing that is none of them ends it.
_SEED_ARGUMENT = r"""(?:-X\s+[A-Z]+|-H\s+"[^"]*"|-d\s+'[^']*'|https?://[^\s\\"']+)"""
_SEED_CURL = re.compile(rf"\bcurl(?:(?:\s|\\\s)+{_SEED_ARGUMENT})+")


def seed_commands(path: Path) -> list[str]:
    """The curl commands of a seed page, with their line continuations restored."""
    text = path.read_text(encoding="utf-8")
    return [re.sub(r"\\[ \t]+", "\\\n  ", match.group(0)) for match in _SEED_CURL.finditer(text)]


@dataclass
class Result:
    """What one command did."""

    command: str  # as sent to bash, ids filled and the URL substituted
    exit_status: int
    stdout: str
    stderr: str
    http_statuses: list[int] = field(default_factory=list)

    @property
    def http_status(self) -> int | None:
        return self.http_statuses[-1] if self.http_statuses else None

    def json(self) -> Any:
        return json.loads(self.stdout)

    def describe(self) -> str:
        return (
            f"$ {self.command}\n-> exit {self.exit_status}, HTTP {self.http_statuses}\n"
            f"stdout: {self.stdout[:3000]}\nstderr: {self.stderr[-1500:]}"
        )


class IdBook:
    """The ids earlier answers returned, and how the text's open ids are filled.

    Fill rule: `prefix_…` (and `prefix_01HX…`) stands for the newest id with that prefix
    that an earlier command of the same run printed. Ids are time-sortable and one emulator
    makes them strictly increasing, so the newest is the greatest.
    """

    def __init__(self, example_ids: tuple[str, ...] = ()) -> None:
        self.newest: dict[str, str] = {}
        # Literal example ids of a page (seeds' `dest_01HXYZ`) filled by the same rule when an
        # id of their prefix was seen, and left as written when none was.
        self.example_ids = example_ids

    def record(self, text: str) -> None:
        for match in _REAL_ID.finditer(text):
            prefix, found = match.group(1), match.group(0)
            if found > self.newest.get(prefix, ""):
                self.newest[prefix] = found

    def fill(self, command: str) -> str:
        def newest(match: re.Match[str]) -> str:
            prefix = match.group(1)
            if prefix not in self.newest:
                raise AssertionError(
                    f"{match.group(0)} in {command!r}: no earlier answer returned a {prefix}_ id"
                )
            return self.newest[prefix]

        command = _PLACEHOLDER.sub(newest, command)
        for example in self.example_ids:
            prefix = example.split("_", 1)[0]
            if prefix in self.newest:
                command = re.sub(rf"\b{re.escape(example)}\b", self.newest[prefix], command)
        return command


REPO = Path(__file__).resolve().parents[1]
_SETUP_LINE = re.compile(r"^export PATH=\"\$PWD/bin:\$PATH\"", re.MULTILINE)


def fresh_path() -> str:
    """This process's PATH without virtualenvs: what a new terminal has before any set-up."""
    kept = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and not (Path(entry).parent / "pyvenv.cfg").exists()
    ]
    return os.pathsep.join(kept)


def fresh_shell_setup() -> str:
    """The README's line that makes `harbor-emulator` a command, as it is written there."""
    (block,) = [b for b in doc_blocks(REPO / "README.md", "README.md") if "scripts/start" in b.text]
    (line,) = [c for c in split_commands(block.text) if _SETUP_LINE.match(c)]
    return line


class Shell:
    """One bash process, like a terminal: commands run in order and share its variables.

    A fresh terminal: this process's `PATH` without any virtualenv, then the README's set-up
    line run in the clone (`fresh_shell_setup`), so `harbor-emulator` is the command the
    README makes, not this test's venv; `HARBOR_EMULATOR_URL` is the emulator's URL (the
    CLI's default when a command passes no `--url`, standing in for `http://127.0.0.1:4280`).
    """

    def __init__(self, cwd: Path, emulator_url: str) -> None:
        if not (REPO / ".venv" / "bin" / "harbor-emulator").exists():
            # bin/harbor-emulator would install it mid-test, once per xdist worker at once.
            skip_policy.skip("the clone's .venv is not installed", install="scripts/test")
        self.cwd = cwd
        self.count = 0
        env = {
            "PATH": fresh_path(),
            "HOME": os.environ.get("HOME", str(cwd)),
            "LANG": "C.UTF-8",
            "HARBOR_EMULATOR_URL": emulator_url,
            # curl reads proxy variables; the emulator is on loopback and must be reached there.
            "NO_PROXY": "*",
            "no_proxy": "*",
        }
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
        )
        self._send(f"cd {shlex.quote(str(REPO))} && {fresh_shell_setup()} && cd - >/dev/null\n")
        self._send(
            "curl() { command curl --write-out "
            f"'%{{stderr}}\\n{_STATUS_MARK}%{{http_code}}\\n' \"$@\"; }}\n"
        )

    def _send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def run(self, command: str) -> Result:
        self.count += 1
        base = self.cwd / f".cmd{self.count}"
        # Braces, not a subshell: assignments stay for the next commands.
        self._send(
            f"{{\n{command}\n}} </dev/null >{base}.out 2>{base}.err\n"
            f"echo $? >{base}.rc\necho @@done\n"
        )
        self._wait_done(command)
        stderr_lines = []
        statuses = []
        for line in (base.with_suffix(".err")).read_text(errors="replace").splitlines():
            if line.startswith(_STATUS_MARK):
                statuses.append(int(line.removeprefix(_STATUS_MARK)))
            else:
                stderr_lines.append(line)
        return Result(
            command=command,
            exit_status=int(base.with_suffix(".rc").read_text()),
            stdout=base.with_suffix(".out").read_text(errors="replace"),
            stderr="\n".join(stderr_lines),
            http_statuses=statuses,
        )

    def _wait_done(self, command: str) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        received = b""
        while not received.endswith(_DONE_MARK):
            ready, _, _ = select.select([fd], [], [], COMMAND_TIMEOUT_SECONDS)
            if not ready:
                raise AssertionError(f"no answer in {COMMAND_TIMEOUT_SECONDS} s: {command}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"bash ended during: {command}\n{received.decode()}")
            received += chunk

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()
