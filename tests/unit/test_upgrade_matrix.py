"""The upgrade and rollback matrix: which pairs the matrix promises, the record of their runs,
and the reference table made of both (no engine; the runs themselves are tests/deploy)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from runtime_builder import layout
from runtime_builder.errors import BuilderError
from runtime_builder.generate import render, upgrade_matrix
from runtime_builder.generate.upgrade_matrix import ROLLBACK, UPGRADE, Result
from runtime_builder.matrix.model import Matrix

from .support import REPO_ROOT


def ids(pairs: list[upgrade_matrix.Pair]) -> list[tuple[str, str]]:
    return [(p.id, p.kind) for p in pairs]


def test_pairs_of_the_fixture_matrix(matrix: Matrix) -> None:
    # Line 14: 14.0.2 is yanked, 14.1.0 a nightly; the newest of 14 by release is 14.0.1.
    assert ids(upgrade_matrix.pairs(matrix)) == [
        ("14.0.0-to-14.0.1", UPGRADE), ("14.0.1-to-14.1.0", UPGRADE),
        ("11.1.0-to-14.0.1", UPGRADE), ("14.0.1-to-11.1.0", ROLLBACK),
    ]


def test_pairs_of_the_committed_matrix(committed_matrix: Matrix) -> None:
    """The issue's list: within line 14, across 13 → 14 and 12 → 13, and both rollbacks."""
    found = ids(upgrade_matrix.pairs(committed_matrix))
    default = committed_matrix.default_release()
    assert (upgrade_matrix.default_pair(committed_matrix).id, UPGRADE) in found
    assert [kind for _, kind in found].count(ROLLBACK) == 2
    sources = {p.source.line for p in upgrade_matrix.pairs(committed_matrix) if p.kind == UPGRADE}
    assert {default.line, default.line - 1, default.line - 2} <= sources
    for pair in upgrade_matrix.pairs(committed_matrix):
        assert not pair.source.is_yanked and not pair.target.is_yanked
        assert (pair.source.version < pair.target.version) == (pair.kind == UPGRADE)


def test_the_default_pair_is_the_release_before_the_default(matrix: Matrix) -> None:
    pair = upgrade_matrix.default_pair(matrix)
    assert (pair.id, pair.kind) == ("14.0.0-to-14.0.1", UPGRADE)
    assert upgrade_matrix.chosen(matrix, []) == [pair]


def test_chosen_names_pairs_and_refuses_unknown_ones(matrix: Matrix) -> None:
    assert ids(upgrade_matrix.chosen(matrix, ["14.0.1-to-11.1.0", "default"])) == [
        ("14.0.1-to-11.1.0", ROLLBACK), ("14.0.0-to-14.0.1", UPGRADE)]
    assert upgrade_matrix.chosen(matrix, ["all", "default"]) == upgrade_matrix.pairs(matrix)
    with pytest.raises(BuilderError, match=r"no upgrade or rollback '14.0.2-to-14.1.0'.*14.0.0-to-14.0.1"):
        upgrade_matrix.chosen(matrix, ["14.0.2-to-14.1.0"])


def result(pair: upgrade_matrix.Pair, status: str = "ok", day: str = "2026-11-30") -> Result:
    return replace(Result.of(pair, day), status=status, detail=f"{status} | detail", history={"xcom": [3, 3]})


def test_record_merges_the_newest_per_pair_and_load_reads_it_back(matrix: Matrix, tmp_path: Path) -> None:
    first, second = upgrade_matrix.pairs(matrix)[:2]
    path = tmp_path / "evidence" / "upgrades.json"
    upgrade_matrix.record(path, [result(first, "failed", "2026-11-01"), result(second)])
    upgrade_matrix.record(path, [result(first, "ok", "2026-11-30")])
    loaded = upgrade_matrix.load(path)
    assert [(r.source, r.target, r.status, r.checked_on) for r in loaded] == [
        ("14.0.0", "14.0.1", "ok", "2026-11-30"), ("14.0.1", "14.1.0", "ok", "2026-11-30")]
    assert json.loads(path.read_text())["schema"] == 1
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not an upgrade results file"),
    ('{"results": [{"source": "1"}]}', r"not an upgrade results file: results\[0\]: a mapping with target, kind, "
                                       "airflow_source, airflow_target is expected"),
    # issue 31: these said Python's words, "'list' object has no attribute 'items'", "KeyError: 'results'"
    ("[]", "not an upgrade results file: a JSON object with a `results` list is expected"),
    ('{"result": []}', "not an upgrade results file: a JSON object with a `results` list is expected"),
    ('{"results": [[]]}', r"not an upgrade results file: results\[0\]: a mapping with source, target, kind"),
    ("{", r"not an upgrade results file: not UTF-8 JSON \(line 1, column 2\)"),
    ('{"results": [{"source": "1", "target": "2", "kind": "upgrade", "airflow_source": "a", '
     '"airflow_target": "b", "status": "great"}]}', "status 'great'"),
])
def test_a_broken_results_file_is_refused_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "upgrades.json"
    path.write_text(text)
    with pytest.raises(BuilderError, match=message) as caught:
        upgrade_matrix.load(path)
    assert str(path) in str(caught.value)


def test_rows_show_each_pair_with_its_run_or_not_run(matrix: Matrix) -> None:
    pairs = upgrade_matrix.pairs(matrix)
    stale = replace(result(pairs[1]), airflow_target="3.3.1")  # taken when 14.1.0 had another Airflow
    rows = upgrade_matrix.rows(matrix, [result(pairs[0]), stale, result(pairs[3], "refused")])
    assert [(r["kind"], r["status"]) for r in rows] == [
        (UPGRADE, "ok"), (UPGRADE, "not run"), (UPGRADE, "not run"), (ROLLBACK, "refused")]
    assert rows[0]["source"] == "14.0.0 (Airflow 3.3.0)" and rows[0]["detail"] == "ok \\| detail"


def test_the_performance_page_shows_the_recorded_results(matrix: Matrix) -> None:
    """bench/report.py (not render) turns the recorded runs into docs/performance.md."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("bench_report", REPO_ROOT / "bench" / "report.py")
    assert spec is not None and spec.loader is not None
    report = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = report
    spec.loader.exec_module(report)
    pairs = upgrade_matrix.pairs(matrix)
    text = report.page([], [], upgrade_matrix.rows(matrix, [result(pairs[0])]))
    assert "| upgrade | 14.0.0 (Airflow 3.3.0) | 14.0.1 (Airflow 3.3.1) | ok | 2026-11-30 | ok \\| detail |" in text
    assert "| rollback | 14.0.1 (Airflow 3.3.1) | 11.1.0 (Airflow 2.10.5) | not run |  |  |" in text
    readme = render.render_tree(matrix, REPO_ROOT / layout.TEMPLATES)[render.PurePosixPath(layout.DISTRIBUTIONS,
                                                                                            "README.md")]
    assert "docs/performance.md" in readme.content.decode() and "| ok |" not in readme.content.decode()


def test_every_promised_pair_of_the_committed_matrix_has_a_real_run(committed_matrix: Matrix) -> None:
    """The Done-when of the upgrades work: each cell of the table was produced by a run."""
    recorded = upgrade_matrix.load(REPO_ROOT / layout.UPGRADE_RESULTS)
    missing = [pair.id for pair in upgrade_matrix.pairs(committed_matrix)
               if upgrade_matrix.result_of(pair, recorded) is None]
    assert missing == [], f"no recorded run (run bench/upgrade_report.py): {missing}"
    for entry in recorded:
        assert entry.status in ("ok", "needs", "lossy", "refused") and entry.detail and entry.checked_on, entry
        if entry.status in ("ok", "needs"):
            assert all(after >= before for before, after in entry.history.values()), entry


def test_a_package_airflow_asks_for_is_read_from_its_own_words() -> None:
    from runtime_builder.deploy.upgrades import needed_package

    refusal = ("RuntimeError: Import error occurred while importing FABDBManager. The apache-airflow-provider-fab "
               "package must be installed before we can downgrade to <3.0.0.")
    assert needed_package(refusal) == "apache-airflow-providers-fab"
    assert needed_package("SystemExit: Downgrading to version 2.9.9 is not supported.") is None
