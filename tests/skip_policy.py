"""No silent skips: every skip names what is missing and the command that brings it.

The suite's skips all go through `skip`, `skip_reason` or `require_tools` here, so each
reason reads "<what is missing> (to run it: <command>)". At the end of a run the plugin
below lists what did not run, grouped by reason, with that command. Under `CI=true` (GitHub
Actions sets it) a skip fails the run unless its reason matches `ALLOWED_ON_CI`: a CI
machine is set up to run everything, so a skip there is a broken set-up, not a green run.
`.ci/run` does not set CI itself: a machine it provisions may still lack what apt could not
install, and says so in the summary instead.

tests/conftest.py registers the plugin; `-p tests.skip_policy` does the same for a run
outside this suite (tests/test_skip_policy.py runs one).
"""

from __future__ import annotations

import os
import re
import shutil
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

import pytest

PLUGIN_NAME = "harbor-skip-policy"
_COMMAND = re.compile(r"\(to run it: (?P<command>.*)\)$", re.S)

NODE = "apt-get install nodejs npm"
CURL = "apt-get install curl"
NETWORK = "a network that reaches the package registry"


@dataclass(frozen=True, slots=True)
class Allowed:
    """A reason a skip may have on CI, and why that is no gap in what CI checks."""

    pattern: re.Pattern[str]
    why: str


# Short on purpose: each entry is a test that cannot run on a correctly set-up CI machine.
ALLOWED_ON_CI: tuple[Allowed, ...] = (
    Allowed(
        re.compile(r"^Harbor's docs \(the seeds\) are absent"),
        "the seeds are Harbor's own documentation, not part of this repository: a clone "
        "has them only beside a checkout that brought them (../shared/seeds)",
    ),
    Allowed(
        re.compile(r"^mounting a small tmpfs needs root"),
        "GitHub's runners and most developers' machines are not root; the workflow's Linux "
        "job is root in a privileged container (.github/workflows/ci.yml), so it runs there",
    ),
)


def skip_reason(missing: str, install: str) -> str:
    """The one form of a skip's reason: what is missing, then the command that fixes it."""
    return f"{missing} (to run it: {install})"


def skip(missing: str, install: str) -> NoReturn:
    """Skip the current test, naming what is missing and how to get it."""
    pytest.skip(skip_reason(missing, install))


def tools_missing(*tools: str, install: str) -> str | None:
    """The skip reason when any of `tools` is not on PATH, else None (for `skipif`)."""
    absent = [tool for tool in tools if shutil.which(tool) is None]
    if not absent:
        return None
    return skip_reason(f"{' and '.join(absent)} not on PATH", install)


def cores_missing(cores: int) -> str | None:
    """The skip reason when this machine has fewer than `cores` CPU cores, else None."""
    if (os.cpu_count() or 1) >= cores:
        return None
    return skip_reason(f"fewer than {cores} CPU cores", install=f"a machine with {cores} cores")


def require_tools(*tools: str, install: str) -> None:
    """Skip the current test unless every one of `tools` is on PATH."""
    reason = tools_missing(*tools, install=install)
    if reason is not None:
        pytest.skip(reason)


def needs_tools(*tools: str, install: str) -> pytest.MarkDecorator:
    """A `skipif` mark for tests or modules that need `tools` on PATH."""
    return skip_if(tools_missing(*tools, install=install))


def skip_if(reason: str | None) -> pytest.MarkDecorator:
    """A `skipif` mark from a reason made by `skip_reason` (None: the tests run)."""
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def install_command(reason: str) -> str | None:
    """The command named in a reason made by `skip_reason`, or None for any other reason."""
    match = _COMMAND.search(reason)
    return match.group("command") if match else None


def allowed_on_ci(reason: str) -> Allowed | None:
    return next((entry for entry in ALLOWED_ON_CI if entry.pattern.search(reason)), None)


def on_ci(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get("CI", "").strip().lower() in {"true", "1"}


def _reason_of(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


class SkipPolicy:
    """Collects the run's skips; reports them and, on CI, fails the run for unlisted ones."""

    def __init__(self, ci: bool) -> None:
        self.ci = ci
        self.skipped: dict[str, list[str]] = defaultdict(list)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # An expected failure is reported as skipped too; it did run.
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped[_reason_of(report)].append(report.nodeid)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A module that skips itself at import never reaches the run-time reports.
        if report.skipped:
            self.skipped[_reason_of(report)].append(report.nodeid)

    def forbidden(self) -> dict[str, list[str]]:
        if not self.ci:
            return {}
        return {r: ids for r, ids in self.skipped.items() if allowed_on_ci(r) is None}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.forbidden() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skipped:
            return
        forbidden = self.forbidden()
        title = (
            "skips not allowed on CI (tests/skip_policy.py)" if forbidden else "what did not run"
        )
        terminalreporter.section(title, sep="=", red=bool(forbidden), yellow=not forbidden)
        for reason, node_ids in sorted(self.skipped.items(), key=lambda item: -len(item[1])):
            allowed = allowed_on_ci(reason)
            if reason in forbidden:
                mark = "NOT ALLOWED ON CI: "
            elif self.ci and allowed is not None:
                mark = "allowed on CI: "
            else:
                mark = ""
            terminalreporter.write_line(f"{mark}{len(node_ids)} skipped: {reason}")
            command = install_command(reason)
            terminalreporter.write_line(f"    to run them: {command or '(the reason names none)'}")
            if self.ci and allowed is not None:
                terminalreporter.write_line(f"    why CI may skip them: {allowed.why}")
            for node_id in node_ids[:3]:
                terminalreporter.write_line(f"    {node_id}")
            if len(node_ids) > 3:
                terminalreporter.write_line(f"    ... and {len(node_ids) - 3} more")
        if forbidden:
            count = sum(len(ids) for ids in forbidden.values())
            terminalreporter.write_line(
                f"CI=true: {count} skipped test(s) fail this run; install what they need, or "
                "add a reasoned entry to ALLOWED_ON_CI in tests/skip_policy.py",
                red=True,
            )


def register(config: pytest.Config) -> None:
    """Install the policy once per run, on the process that reports (not xdist's workers)."""
    if hasattr(config, "workerinput") or config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    config.pluginmanager.register(SkipPolicy(ci=on_ci()), PLUGIN_NAME)


def pytest_configure(config: pytest.Config) -> None:
    register(config)
