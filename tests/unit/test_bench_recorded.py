"""bench/recorded.py: each benchmark's figures beside their targets and the previous recorded run."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from .support import REPO_ROOT

# Loaded from its file: bench/ is not a package, and putting it on sys.path would shadow modules.
_spec = importlib.util.spec_from_file_location("bench_recorded", REPO_ROOT / "bench" / "recorded.py")
assert _spec is not None and _spec.loader is not None
recorded = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = recorded  # dataclasses look their module up
_spec.loader.exec_module(recorded)
Figure = recorded.Figure


def test_the_committed_file_holds_a_run_for_every_bench_that_records(tmp_path: Path) -> None:
    found = recorded.load()
    assert {"build_bench", "deploy_bench", "slim_bench", "test-command", "upgrade_pull_bench"} <= set(found)
    for run in recorded.runs():
        assert run["bench"] and run["commit"] and run["date"] and run["machine"] and run["run"] and run["figures"], run
        assert re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?", run["commit"]) or run["commit"] == recorded.UNKNOWN, run
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", run["date"]) or run["date"] == recorded.UNKNOWN, run
        assert all(isinstance(value, str) for value in run["figures"].values()), run
    assert found["build_bench"]["figures"]["arm64 / amd64 cold"].endswith("x")


def _two_runs(path: Path) -> None:
    recorded.record("build_bench", "14.2.0, earlier", [Figure("one pin / cold", "0.12x")], path,
                    at="abc1234", on="a machine")
    recorded.record("slim_bench", "slim", [Figure("size", "71%")], path, at="abc1234", on="a machine")


def test_a_table_shows_now_target_and_the_last_recorded_run(tmp_path: Path) -> None:
    path = tmp_path / "recorded.json"
    _two_runs(path)

    lines = recorded.table("build_bench", [Figure("one pin / cold", "0.11x", "<= 0.35x"), Figure("new", "3 s")], path)

    assert lines[0].endswith("(14.2.0, earlier, abc1234, " + recorded.date.today().isoformat() + ")")
    assert lines[1].split() == ["one", "pin", "/", "cold", "0.11x", "<=", "0.35x", "0.12x"]
    assert lines[2].split() == ["new", "3", "s", "-", "-"]


def test_recording_appends_a_run_with_its_commit_date_and_machine(tmp_path: Path) -> None:
    path = tmp_path / "recorded.json"
    _two_runs(path)

    recorded.report("build_bench", "new run", [Figure("cold", "21.4 s")], save=True, path=path)

    found = recorded.runs(path)
    assert [run["bench"] for run in found] == ["build_bench", "slim_bench", "build_bench"]
    last = found[-1]
    assert last["figures"] == {"cold": "21.4 s"} and last["run"] == "new run"
    assert last["commit"] and last["machine"].count("cores") == 1 and last["date"]
    assert recorded.load(path)["build_bench"] == last, "the last run of a bench is its previous figures"
    assert not path.with_suffix(".json.new").exists()


def test_without_record_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "recorded.json"

    recorded.report("deploy_bench", "a run", [Figure("celery start", "17.4 s")], save=False, path=path)

    assert not path.exists()


def test_the_test_command_total_stands_beside_both_targets(capsys: pytest.CaptureFixture[str]) -> None:
    recorded.main(["test-command", "700"])

    line = capsys.readouterr().out.splitlines()[2]
    assert line.split()[:2] == ["total", "700"] and "<= 900 s warm" in line and "<= 2700 s new machine" in line


def test_recording_a_total_needs_what_was_measured(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        recorded.main(["test-command", "1691", "--record"], tmp_path / "recorded.json")
    recorded.main(["test-command", "1691", "--record", "--run", "a new machine"], tmp_path / "recorded.json")
    assert recorded.runs(tmp_path / "recorded.json")[-1]["figures"] == {"total": "1691 s"}
