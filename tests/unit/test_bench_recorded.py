"""bench/recorded.py: each benchmark's figures beside their targets and the previous recorded run."""

from __future__ import annotations

import importlib.util
import json
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


def test_the_committed_file_holds_a_figure_for_every_bench_that_records(tmp_path: Path) -> None:
    found = recorded.load()
    assert {"build_bench", "deploy_bench", "slim_bench", "test-command", "upgrade_pull_bench"} <= set(found)
    assert all(entry["run"] and entry["figures"] for entry in found.values())
    assert found["build_bench"]["figures"]["arm64 / amd64 cold"].endswith("x")


def test_a_table_shows_now_target_and_previous(tmp_path: Path) -> None:
    path = tmp_path / "recorded.json"
    path.write_text(json.dumps({"build_bench": {"run": "14.2.0, earlier", "figures": {"one pin / cold": "0.12x"}}}))

    lines = recorded.table("build_bench", [Figure("one pin / cold", "0.11x", "<= 0.35x"), Figure("new", "3 s")], path)

    assert lines[0].endswith("previous (14.2.0, earlier)")
    assert lines[1].split() == ["one", "pin", "/", "cold", "0.11x", "<=", "0.35x", "0.12x"]
    assert lines[2].split() == ["new", "3", "s", "-", "-"]


def test_recording_replaces_one_bench_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "recorded.json"
    path.write_text(json.dumps({"slim_bench": {"run": "old", "figures": {"size": "71%"}},
                                "build_bench": {"run": "old", "figures": {"cold": "22.9 s", "gone": "1"}}}))

    recorded.report("build_bench", "new run", [Figure("cold", "21.4 s")], save=True, path=path)

    assert json.loads(path.read_text()) == {"slim_bench": {"run": "old", "figures": {"size": "71%"}},
                                            "build_bench": {"run": "new run", "figures": {"cold": "21.4 s"}}}
    assert not path.with_suffix(".json.new").exists()


def test_without_record_nothing_is_written(tmp_path: Path) -> None:
    path = tmp_path / "recorded.json"

    recorded.report("deploy_bench", "a run", [Figure("celery start", "17.4 s")], save=False, path=path)

    assert not path.exists()


def test_the_test_command_total_stands_beside_both_targets(capsys: pytest.CaptureFixture[str]) -> None:
    recorded.main(["test-command", "700"])

    rows = {line.split("  ")[0].strip(): line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["all (warm)"][2:6] == ["700", "s", "<=", "900"]
    assert rows["all (new machine)"][3:7] == ["700", "s", "<=", "2700"]


def test_recording_the_new_machine_total_keeps_the_warm_one_and_both_targets(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "recorded.json"
    recorded.record("test-command", "each figure's own run", [Figure("all (warm)", "682 s (a warm run)")], path)

    recorded.main(["test-command", "1691", "--record", "new machine", "--run", "a new machine"], path)

    assert recorded.load(path)["test-command"]["figures"] == {
        "all (warm)": "682 s (a warm run)", "all (new machine)": "1691 s (a new machine)"}
    out = capsys.readouterr().out
    assert "<= 900 s" in out and "<= 2700 s" in out
