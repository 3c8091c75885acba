"""scripts/bench_binary_start.py: the parts that decide what a run reports.

Figures are never asserted; what is: a start is timed to a real server's first 200 and the
server is gone afterwards, a command that exits before answering is an error naming its
status, and the verdict lines read PASS only within the target.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load() -> ModuleType:
    sys.path.insert(0, str(SCRIPTS))  # the script imports _bench_common from its folder
    try:
        name = "bench_binary_start_under_test"
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / "bench_binary_start.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve string annotations through it
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPTS))


bench = _load()


def test_a_start_is_timed_to_the_hellos_first_200_and_leaves_nothing(tmp_path: Path) -> None:
    hello = tmp_path / "hello.py"
    hello.write_text(bench.HELLO_APP)
    pid_file = tmp_path / "pid"
    # The hello, writing its pid first: env={} leaves the test no other way to find it.
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(
        "import os, runpy, sys\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        f"sys.argv = [{str(hello)!r}, sys.argv[1]]\n"
        f"runpy.run_path({str(hello)!r}, run_name='__main__')\n"
    )
    elapsed_ms = bench.start_once([sys.executable, str(wrapper), "{port}"])
    assert elapsed_ms > 0
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_command_that_exits_before_answering_names_its_status() -> None:
    with pytest.raises(RuntimeError, match="exited with 3"):
        bench.start_once([sys.executable, "-c", "raise SystemExit(3)", "{port}"])


def test_verdicts_pass_only_within_the_target() -> None:
    assert bench.verdict("binary", 1.35, 1.35, "x").startswith("[PASS] binary: 1.35x")
    assert bench.verdict("binary", 1.36, 1.35, "x").startswith("[FAIL] binary: 1.36x")
    assert bench.verdict("image size", 42.2, 50, " MB") == (
        "[PASS] image size: 42.20 MB (target <= 50 MB)"
    )
