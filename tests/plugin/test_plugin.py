"""The pytest plugin as users meet it: a separate test directory run by a new pytest process,
which finds the plugin through its `pytest11` entry point, with warnings as errors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# Warnings are errors in users' runs too, and Python's development mode reports every
# unclosed socket, file or event loop as a ResourceWarning on stderr.
INI = """
[pytest]
filterwarnings = error
"""


@pytest.fixture
def users_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(INI)
    monkeypatch.setenv("PYTHONDEVMODE", "1")
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Hypothesis's plugin alone takes a second or more to load, in every process.
    return suite.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider", *args)


def assert_clean(result: pytest.RunResult) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "ResourceWarning" not in output, output
    assert "Exception ignored" not in output, output


def test_harbor_is_one_emulator_per_session_reset_before_each_test(
    users_suite: pytest.Pytester, tmp_path: Path
) -> None:
    record = tmp_path / "urls.txt"
    users_suite.makepyfile(
        test_users=f"""
        from datetime import timedelta

        import httpx

        RECORD = {str(record)!r}


        def test_leaves_state_behind(harbor):
            with open(RECORD, "a") as f:
                f.write(harbor.url + "\\n")
            harbor.clock.freeze()
            harbor.clock.advance("48h")
            harbor.trigger("order.paid", {{"order_id": "o_1"}})
            harbor.faults.add(target="api", path="/v1/webhooks", error_code="internal_error")
            httpx.post(harbor.sink("orders").url, content=b"hello")
            assert len(harbor.events()) == 1
            harbor.api_key = "hb_test_changed_by_a_test"


        def test_starts_from_a_fresh_state(harbor):
            with open(RECORD, "a") as f:
                f.write(harbor.url + "\\n")
            assert harbor.api_key == "hb_test_pytest"
            clock = harbor.clock.get()
            assert not clock.frozen and abs(clock.offset_seconds) < 60
            assert harbor.events() == []
            assert harbor.faults.list() == []
            assert harbor.sink("orders").requests == []
        """
    )
    result = run(users_suite)
    result.assert_outcomes(passed=2)
    assert_clean(result)
    first, second = record.read_text().split()
    assert first == second and first.startswith("http://127.0.0.1:")


def test_xdist_workers_get_their_own_emulator(users_suite: pytest.Pytester, tmp_path: Path) -> None:
    # Each test writes state, then waits until the other has too, so both emulators hold
    # state while each test checks that it sees only its own. If the two tests ran on one
    # worker, the first would wait for the second in vain and fail.
    users_suite.makepyfile(
        test_parallel=f"""
        import json
        import os
        import time
        from datetime import timedelta
        from pathlib import Path

        import pytest

        SHARED = Path({str(tmp_path)!r})


        @pytest.mark.parametrize(("name", "other", "days"), [("a", "b", 1), ("b", "a", 3)])
        def test_worker(harbor, name, other, days):
            start = harbor.clock.freeze().now
            harbor.clock.advance(timedelta(days=days))
            harbor.trigger(f"order.{{name}}", {{"name": name}})
            mine = {{"url": harbor.url, "worker": os.environ["PYTEST_XDIST_WORKER"]}}
            (SHARED / f"{{name}}.json").write_text(json.dumps(mine))

            deadline = time.monotonic() + 60
            while not (SHARED / f"{{other}}.json").exists():
                assert time.monotonic() < deadline, "the other test never ran alongside"
                time.sleep(0.01)  # waits for the other process, not for the emulator

            assert [event["type"] for event in harbor.events()] == [f"order.{{name}}"]
            assert harbor.clock.now() - start == timedelta(days=days)
        """
    )
    result = run(users_suite, "-n", "2")
    result.assert_outcomes(passed=2)
    assert_clean(result)
    a, b = (json.loads((tmp_path / f"{name}.json").read_text()) for name in "ab")
    assert {a["worker"], b["worker"]} == {"gw0", "gw1"}
    assert a["url"] != b["url"]


def test_harbor_factory_flags(users_suite: pytest.Pytester) -> None:
    users_suite.makepyfile(
        test_flags="""
        import httpx
        import pytest

        from harbor_emulator.client import HarborAPIError

        FIXTURES = {
            "workspaces": [{"id": "ws_ci"}],
            "api_keys": [{"key": "hb_test_ci", "workspace_id": "ws_ci"}],
        }


        def test_strict_with_inline_fixtures(harbor_factory):
            strict = harbor_factory(strict=True, fixtures=[FIXTURES], api_key="hb_test_ci")
            strict.trigger("order.paid")
            with pytest.raises(HarborAPIError) as raised:
                strict.trigger("order.paid", key="hb_test_not_in_fixtures")
            assert raised.value.code == "invalid_api_key"
            strict.reset()  # fixtures given at start are loaded again
            assert strict.trigger("order.paid")["workspace_id"] == "ws_ci"


        def test_fixture_files(harbor_factory, tmp_path):
            path = tmp_path / "harbor.yaml"
            path.write_text("workspaces:\\n  - id: ws_yaml\\n    name: From YAML\\n")
            harbor = harbor_factory(fixtures=[path])
            assert harbor.export()["workspaces"][0]["name"] == "From YAML"


        def test_rate_limit(harbor_factory):
            limited = harbor_factory(rate_limit=1)
            limited.trigger("order.paid")
            with pytest.raises(HarborAPIError) as raised:
                limited.trigger("order.paid")
            assert raised.value.code == "rate_limit_exceeded"
            unlimited = harbor_factory(rate_limit=0)
            for _ in range(150):
                unlimited.trigger("order.paid")


        def test_control_token(harbor_factory):
            guarded = harbor_factory(control_token="sesame")
            assert guarded.control_token == "sesame"
            guarded.clock.advance("1h")
            answer = httpx.post(guarded.url + "/_control/reset")
            assert answer.json()["error"]["code"] == "authentication_required"


        def test_each_call_is_a_new_emulator_and_stop_ends_one(harbor_factory, harbor):
            first, second = harbor_factory(), harbor_factory()
            assert len({first.url, second.url, harbor.url}) == 3
            first.trigger("order.paid")
            assert second.events() == [] and harbor.events() == []
            harbor_factory.stop(first)
            with pytest.raises(httpx.ConnectError):
                httpx.get(first.url + "/_control/health")
            assert second.health()["status"] == "ok"
        """
    )
    result = run(users_suite)
    result.assert_outcomes(passed=5)
    assert_clean(result)


def test_harbor_session_can_be_overridden_to_change_harbors_flags(
    users_suite: pytest.Pytester,
) -> None:
    users_suite.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def harbor_session(harbor_factory):
            return harbor_factory(fixtures=[{"workspaces": [{"id": "ws_shop", "name": "Shop"}]}])
        """
    )
    users_suite.makepyfile(
        test_override="""
        def test_one(harbor):
            harbor.load_fixtures({"workspaces": [{"id": "ws_other"}]})
            assert {w["id"] for w in harbor.export()["workspaces"]} >= {"ws_shop", "ws_other"}


        def test_two(harbor):
            # reset emptied the state and loaded the session's fixtures again
            assert [w["id"] for w in harbor.export()["workspaces"]] == ["ws_shop"]
        """
    )
    result = run(users_suite)
    result.assert_outcomes(passed=2)


def test_invalid_fixtures_fail_the_test_with_the_loaders_message(
    users_suite: pytest.Pytester,
) -> None:
    users_suite.makepyfile(
        test_bad="""
        def test_bad(harbor_factory):
            harbor_factory(fixtures=[{"webhooks": [{"url": "http://127.0.0.1/x"}]}])
        """
    )
    result = run(users_suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*ServerStartError: *invalid_fixtures: *fixtures[[]0[]].json: webhooks[[]0[]]*events*"]
    )


def test_the_plugin_can_be_turned_off(users_suite: pytest.Pytester) -> None:
    users_suite.makepyfile("def test_uses_harbor(harbor):\n    pass\n")
    result = run(users_suite, "-p", "no:harbor_emulator")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'harbor' not found*"])


def test_the_plugin_starts_nothing_until_a_fixture_is_used(users_suite: pytest.Pytester) -> None:
    users_suite.makepyfile(
        test_unrelated="""
        import sys
        import threading


        def test_without_harbor(request):
            assert "harbor_emulator.testing.pytest_plugin" in sys.modules  # by its entry point
            assert "harbor_emulator.testing.server" not in sys.modules
            assert "uvicorn" not in sys.modules
            assert "httpx" not in sys.modules
            assert threading.active_count() == 1
        """
    )
    result = run(users_suite)
    result.assert_outcomes(passed=1)


def test_importing_the_plugin_module_has_no_side_effects() -> None:
    script = textwrap.dedent(
        """
        import sys, threading
        import harbor_emulator.testing.pytest_plugin
        heavy = {"uvicorn", "starlette", "aiosqlite", "harbor_emulator.server.app"}
        # A run that uses no emulator pays for no client, templates or fixtures either.
        heavy |= {"httpx", "harbor_emulator.client", "jinja2", "yaml", "jsonschema"}
        heavy &= set(sys.modules)
        assert not heavy, heavy
        assert threading.active_count() == 1
        """
    )
    subprocess.run([sys.executable, "-W", "error", "-c", script], check=True, timeout=60)


GOLDEN_SUITE = """
import pytest


@pytest.fixture(scope="session")
def harbor_session(harbor_factory):
    return harbor_factory(seed=42)


@pytest.fixture(scope="session")
def harbor_baseline(harbor_session):
    harbor_session.request(
        "POST",
        "/v1/webhooks",
        json={"url": harbor_session.sink("orders").url, "events": ["order.*"]},
    )
    harbor_session.snapshots.save("baseline")
    return "baseline"


def test_paid(harbor, harbor_golden):
    harbor.trigger("order.paid", {"order_id": "o_1", "total": TOTAL})
    harbor.drain()
    harbor_golden.check()


def test_refunded(harbor, harbor_golden):
    assert harbor.sink("orders").requests == []  # the baseline, not test_paid's state
    harbor.trigger("order.refunded", {"order_id": "o_2"})
    harbor.drain()
    harbor_golden.check(["orders"])
"""


def test_harbor_golden_writes_compares_and_updates_with_a_baseline(
    users_suite: pytest.Pytester,
) -> None:
    users_suite.makepyfile(test_golden=GOLDEN_SUITE.replace("TOTAL", "100"))
    result = run(users_suite)
    result.assert_outcomes(passed=2)
    assert_clean(result)
    golden = users_suite.path / "golden"
    paid = json.loads((golden / "test_paid.json").read_text())
    (request,) = paid["orders"]
    assert request["headers"]["harbor-signature"].startswith("v1=")
    assert request["headers"]["harbor-timestamp"] == "1767225600"  # 2026-01-01, seeded
    assert "host" not in request["headers"]
    assert json.loads(request["body"])["data"]["payload"] == {"order_id": "o_1", "total": 100}
    written = {p.name: p.read_text() for p in golden.iterdir()}

    # A new process, another port, each test alone or in another order: the same bytes.
    run(users_suite).assert_outcomes(passed=2)
    run(users_suite, "-k", "refunded").assert_outcomes(passed=1)
    assert {p.name: p.read_text() for p in golden.iterdir()} == written

    users_suite.makepyfile(test_golden=GOLDEN_SUITE.replace("TOTAL", "250"))
    failed = run(users_suite)
    failed.assert_outcomes(passed=1, failed=1)
    failed.stdout.fnmatch_lines(["*deliveries differ from*test_paid.json*", "E *+ *total*:250*"])
    run(users_suite, "--harbor-update-golden").assert_outcomes(passed=2)
    assert '\\"total\\":250' in (golden / "test_paid.json").read_text()
    assert (golden / "test_refunded.json").read_text() == written["test_refunded.json"]
