"""docs/performance.md and its plots: generated from the recorded runs and evidence, never by hand;
stale ones fail here."""

from __future__ import annotations

import importlib.util
import sys

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
