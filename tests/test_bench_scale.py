"""scripts/bench_scale.py runs end to end on a tiny state and prints every figure it promises.

Only that it runs and reports: the figures themselves are never asserted (issue 20).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import skip_policy

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bench_scale.py"

# The bench pins the emulator and its client to two cores with taskset.
pytestmark = skip_policy.skip_if(
    skip_policy.tools_missing("taskset", install="apt-get install util-linux")
    or skip_policy.cores_missing(2)
)


def test_a_tiny_run_exits_0_and_prints_the_figures(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    result = subprocess.run(
        [
            *(sys.executable, str(SCRIPT), "--events", "300", "--deliveries", "30"),
            *("--page", "3", "--limit", "20", "--reads", "2", "--settle", "0"),
            *("--db-dir", str(tmp_path / "db"), "--write", str(tmp_path / "tables")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "counts: events 300, deliveries 30, attempts 30, deliveries succeeded 30" in out
    for figure in (
        "events/s at c=16",
        "after the fill",
        "after the list reads",
        "target RSS < 150 MB",
        "GET /v1/events ",
        "GET /v1/deliveries?webhook_id=",
        "GET /_control/events",
        "GET /_control/deliveries",
        "B per event (whole file)",
        "B per delivery",
    ):
        assert figure in out, out
    assert "FLAGGED" not in out
    # The temporary state is gone with the bench.
    assert list((tmp_path / "db").iterdir()) == []
    # --write: the tables the docs embed, made from the figures the JSON holds.
    written = json.loads((tmp_path / "tables" / "scale.json").read_text())
    assert written["figures"]["counts"]["events"] == 300
    summary, lists = written["tables"]
    assert summary["rows"][0][1].endswith(" events/s")
    assert [row[0] for row in lists["rows"]][-1] == "GET /_control/deliveries"
    markdown = (tmp_path / "tables" / "scale.md").read_text()
    assert [line for line in markdown.splitlines() if line.startswith("| ---")] == [
        "| --- | --- |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
