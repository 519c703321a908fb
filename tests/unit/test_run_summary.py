"""scripts/run_summary.py: the table the test command ends with (and a GitHub job's summary)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

from .support import REPO_ROOT

SPEC = importlib.util.spec_from_file_location("run_summary", REPO_ROOT / "scripts" / "run_summary.py")
assert SPEC and SPEC.loader
run_summary = importlib.util.module_from_spec(SPEC)
sys.modules["run_summary"] = run_summary  # dataclasses look their module up while the class is made
SPEC.loader.exec_module(run_summary)

# What scripts/test-all's `stage` writes (printf '%-16s %5ds  %s  %s%s\n').
STAGES = ("setup               20s   49%  ok\n"
          "unit               150s   82%  ok\n"
          "deploy-tests       954s   68%  FAILED (exit 1)\n"
          "publish-tests      300s   55%  ok  [side by side: publish_lane]\n")

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="2" skipped="3" tests="10" time="95.5">
</testsuite></testsuites>"""


def test_stage_lines_keep_outcomes_and_lanes():
    rows = run_summary.stages(STAGES)
    assert [(r.name, r.seconds, r.busy, r.outcome, r.lane) for r in rows] == [
        ("setup", 20, "49%", "ok", ""), ("unit", 150, "82%", "ok", ""),
        ("deploy-tests", 954, "68%", "FAILED (exit 1)", ""), ("publish-tests", 300, "55%", "ok", "publish_lane")]


def test_a_reports_counts(tmp_path):
    report = tmp_path / "junit-image.xml"
    report.write_text(REPORT)
    counted = run_summary.tests(report)
    assert (counted.report, counted.passed, counted.failed, counted.skipped) == ("image", 4, 3, 3)
    assert counted.seconds == 95.5


def test_only_the_runs_own_build_records_and_their_sizes(tmp_path):
    old, new = tmp_path / "a.json", tmp_path / "b.json"
    old.write_text(json.dumps({"reference": "airflow-runtime:1.0.0-base-amd64", "platform": "linux/amd64",
                               "seconds": 3.0}))
    new.write_text(json.dumps({"reference": "airflow-runtime:1.0.1-base-amd64", "platform": "linux/amd64",
                               "seconds": 42.4}))
    os.utime(old, (1000, 1000))
    os.utime(new, (3000, 3000))
    found = run_summary.images(tmp_path, 2000, {"airflow-runtime:1.0.1-base-amd64": 550_000_000}.get)
    assert [(i.reference, i.size, i.seconds) for i in found] == [
        ("airflow-runtime:1.0.1-base-amd64", 550_000_000, 42.4)]


def test_the_console_and_the_markdown_show_the_same_rows(tmp_path):
    report = tmp_path / "junit-deploy.xml"
    report.write_text(REPORT)
    stage_rows, test_rows = run_summary.stages(STAGES), [run_summary.tests(report)]
    image_rows = [run_summary.Image("airflow-runtime:1.0.1-base-amd64", "linux/amd64", 550_000_000, 42.4),
                  run_summary.Image("airflow-runtime:1.0.1-amd64", "linux/amd64", None, 0.2)]
    text = run_summary.text(stage_rows, test_rows, image_rows)
    markdown = run_summary.markdown(stage_rows, test_rows, image_rows)
    assert "deploy-tests" in text and "FAILED (exit 1)" in text and "550 MB" in text
    assert "| deploy-tests | 954 | 68% | FAILED (exit 1) |" in markdown
    assert "| deploy | 4 | 3 | 3 | 96 |" in markdown
    assert "| `airflow-runtime:1.0.1-base-amd64` | linux/amd64 | 550 MB | 42 s |" in markdown
    assert "| `airflow-runtime:1.0.1-amd64` | linux/amd64 | - | 0 s |" in markdown
    # A cell's summary has no stages: no empty Stages table.
    assert not run_summary.markdown([], test_rows, []).startswith("### Stages")
    assert "### Stages" not in run_summary.markdown([], test_rows, [])
