"""docs/performance.md and its plots: generated from the recorded runs and evidence, never by hand;
stale ones fail here."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from .support import REPO_ROOT

_spec = importlib.util.spec_from_file_location("bench_report", REPO_ROOT / "bench" / "report.py")
assert _spec is not None and _spec.loader is not None
report = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = report
_spec.loader.exec_module(report)


def test_the_committed_page_and_plots_are_what_the_data_makes() -> None:
    assert report.stale() == [], "run `python3 bench/report.py` and commit what it writes"


def test_a_plot_has_a_bar_per_row_and_its_target() -> None:
    svg = report.bars("Title", [("first", 10.0), ("second", 55.5)], "%", 60)
    assert svg.startswith("<svg ") and svg.count('fill="#4a7ab7"') == 2
    assert ">55.5 %<" in svg and "target 60 %" in svg and "stroke-dasharray" in svg
    assert "target" not in report.bars("Title", [("only", 1.0)], "s")


def test_figures_are_read_as_numbers() -> None:
    assert [report.number(text) for text in ("21.4 s", "63%", "0.11x", "6 of 9", "n/a")] == [21.4, 63, 0.11, 6, None]


def _copy(tmp_path: Path) -> Path:
    """A repository to check: the data linked, the generated page and plots copied."""
    root = tmp_path / "repo"
    root.mkdir()
    for entry in REPO_ROOT.iterdir():
        if entry.name not in {"docs", ".git"}:
            (root / entry.name).symlink_to(entry)
    (root / "docs").mkdir()
    shutil.copy(REPO_ROOT / report.PAGE, root / report.PAGE)
    shutil.copytree(REPO_ROOT / report.PLOTS, root / report.PLOTS)
    return root


def test_the_check_fails_on_a_stale_page_or_plot_and_passes_once_they_are_written(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    assert report.main(["--check"], root) == 0

    (root / report.PLOTS / "upgrade-pull.svg").write_text("<svg/>\n")
    (root / report.PLOTS / "gone.svg").write_text("<svg/>\n")
    (root / report.PLOTS / "test-stages.svg").unlink()
    with (root / report.PAGE).open("a") as page:
        page.write("A line by hand.\n")

    assert set(report.stale(root)) == {report.PAGE, report.PLOTS / "test-stages.svg",
                                       report.PLOTS / "upgrade-pull.svg", report.PLOTS / "gone.svg"}
    assert report.main(["--check"], root) == 1
    assert report.main([], root) == 0
    assert report.main(["--check"], root) == 0 and not (root / report.PLOTS / "gone.svg").exists()


def test_the_plots_show_each_upgrade_and_the_test_commands_stages() -> None:
    runs = [{"bench": "upgrade_pull_bench", "commit": "a", "date": "2026-11-30", "machine": "m", "run": "r",
             "figures": {"14.0.0 -> 14.0.2": "62%", "14.0.0 -> 14.0.2 fetched": "111 MB"}},
            {"bench": "upgrade_pull_bench", "commit": "b", "date": "2026-12-06", "machine": "m", "run": "r",
             "figures": {"14.2.0 -> 14.2.1": "6%"}},
            {"bench": "test-command", "commit": "unknown", "date": "unknown", "machine": "m", "run": "r",
             "figures": {"total": "900 s", "unit": "60 s", "image tests": "500 s", "publish": "300 s"}},
            {"bench": "test-command", "commit": "c", "date": "2026-12-01", "machine": "m", "run": "failed",
             "figures": {"result": "failed"}}]

    assert report.upgrade_pulls(runs) == [("14.0.0 -> 14.0.2", 62.0), ("14.2.0 -> 14.2.1", 6.0)]
    assert report.stages(runs[2]) == [("unit", 60.0), ("image tests", 500.0), ("publish", 300.0)]
    assert report.stages(runs[3]) == []
    svg = report.stacked("Stages", [(report._when(runs[2]), report.stages(runs[2]))], "s",
                         order=report.STAGES)
    assert svg.count("<rect x=") == 6 and ">undated<" in svg and ">860 s<" in svg
