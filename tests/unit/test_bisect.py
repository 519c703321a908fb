"""`build.py bisect` without an engine (issue 32): the search over package moves with an injected
probe, the candidate locks' requests, and the `constraints:` entry it proposes, loaded through
the matrix loader."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest
import yaml

from runtime_builder.lock import candidates
from runtime_builder.lock.bisect import Move, Outcome, Result, Verdict, moves, search
from runtime_builder.matrix.model import Platform

from .support import REPO_ROOT, edit, fixture_text, line, load_text

NAMES = [f"pkg-{chr(ord('a') + i)}" for i in range(24)]


def probe_of(red, drags=None, flaky_greens=0):
    """A probe where `red(applied)` decides the test; `drags`: name -> the names applying it drags along;
    the first `flaky_greens` runs of a red set pass anyway."""
    drags = drags or {}
    calls = []
    left = [flaky_greens]

    def probe(asked: frozenset[str]) -> Outcome:
        applied = set(asked)
        for name in asked:
            applied |= set(drags.get(name, ()))
        calls.append(frozenset(asked))
        is_red = red(frozenset(applied))
        if is_red and left[0]:
            left[0] -= 1
            is_red = False
        return Outcome(is_red, frozenset(applied))

    probe.calls = calls
    return probe


def budget(n: int) -> float:
    return math.log2(n) + 2


@pytest.mark.parametrize("culprit", NAMES)
def test_one_culprit_among_24_within_log2_n_plus_2_probes(culprit):
    result = search(NAMES, probe_of(lambda applied: culprit in applied))
    assert (result.verdict, result.culprits, result.dragged) == (Verdict.CULPRIT, (culprit,), ())
    assert result.probes <= budget(len(NAMES)), [s.asked for s in result.steps]


def test_a_pair_needed_together_is_named_as_a_pair():
    pair = {"pkg-d", "pkg-q"}
    result = search(NAMES, probe_of(lambda applied: pair <= applied))
    assert result.verdict is Verdict.TOGETHER
    assert set(result.culprits) == pair
    assert result.probes <= 2 * budget(len(NAMES))
    assert any(not s.red and s.asked == ("pkg-q",) for s in result.steps)  # the one found first passed alone


def test_no_subset_reproduces_and_bad_is_rerun_before_concluding():
    probe = probe_of(lambda applied: False)
    result = search(NAMES, probe, reruns=2)
    assert result.verdict is Verdict.NOT_REPRODUCED and result.culprits == ()
    reruns = [s for s in result.steps if s.why == "rerun of BAD"]
    assert len(reruns) == 2 and all(len(s.asked) == len(NAMES) for s in reruns)


def test_a_flaky_bad_red_on_rerun_goes_on_to_the_culprit():
    # the last move is the culprit; its first red run passes, so the search must rerun BAD to go on
    result = search(NAMES, probe_of(lambda applied: "pkg-x" in applied, flaky_greens=1))
    assert result.verdict is Verdict.CULPRIT and result.culprits == ("pkg-x",)
    assert any(s.why == "rerun of BAD" and s.red for s in result.steps)


def test_red_on_good_is_not_blamed_on_a_move():
    result = search(NAMES, probe_of(lambda applied: True))
    assert result.verdict is Verdict.RED_ON_GOOD and result.culprits == ()
    assert result.steps[-1].why == "good" and result.steps[-1].asked == ()


def test_the_culprit_dragged_along_by_the_resolver_is_found_in_what_it_dragged():
    # pkg-c's new version needs pkg-m's: applying pkg-c drags pkg-m along; pkg-m breaks the test
    result = search(NAMES, probe_of(lambda applied: "pkg-m" in applied, drags={"pkg-c": ["pkg-m"]}))
    assert result.verdict is Verdict.CULPRIT and result.culprits == ("pkg-m",)
    assert all("pkg-m" in s.applied for s in result.steps if s.red)


def test_a_culprit_that_drags_an_innocent_along_says_so():
    result = search(NAMES, probe_of(lambda applied: "pkg-c" in applied, drags={"pkg-c": ["pkg-t"]}))
    assert (result.verdict, result.culprits, result.dragged) == (Verdict.CULPRIT, ("pkg-c",), ("pkg-t",))
    assert any(s.why == "dragged" and s.asked == ("pkg-t",) and not s.red for s in result.steps)


def test_moves_are_the_pins_that_differ_added_and_removed_ones_too():
    good = {"a": "1", "b": "2", "gone": "1"}
    bad = {"a": "1", "b": "3", "new": "0.1"}
    assert moves(good, bad) == (Move("b", "2", "3"), Move("gone", "1", None), Move("new", None, "0.1"))


def test_a_candidate_asks_for_its_moves_and_holds_the_others_between_their_versions():
    good = {"a": "1.0", "b": "2.0", "gone": "1.0", "same": "5"}
    bad = {"a": "1.0", "b": "2.5", "gone": None, "new": "0.1", "same": "5"}
    bad = {k: v for k, v in bad.items() if v}
    requirements, constraints, preferred = candidates.request(good, bad, {"gone", "new"})
    assert requirements.splitlines() == ["a", "b", "new==0.1", "same"]
    assert constraints.splitlines() == ["a==1.0", "b>=2.0,<=2.5", "same==5"]
    assert "gone" not in preferred and "new==0.1" in preferred and "b==2.0" in preferred
    assert candidates.applied(good, {"a": "1.0", "b": "2.5", "new": "0.1"}, moves(good, bad)) == \
        frozenset({"b", "gone", "new"})


def _report(tmp_path: Path, result: Result, found: tuple[Move, ...]) -> candidates.Report:
    matrix = load_text(tmp_path, fixture_text())
    good = candidates.Side(matrix.release("14.0.2"), "3.13", Platform.AMD64, "", "locks/14.0.2/python-3.13/amd64.txt")
    bad = candidates.Side(matrix.release("14.1.0"), "3.13", Platform.AMD64, "", "locks/14.1.0/python-3.13/amd64.txt")
    return candidates.Report(good, bad, found, ("tests/image/test_airflow_runs.py", "-k", "version"), result, 12.0)


def test_the_proposed_constraint_loads_through_the_matrix_loader(tmp_path):
    found = (Move("attrs", "24.2.0", "25.1.0"), Move("rich", "13.9.4", "14.0.0"))
    report = _report(tmp_path, Result(Verdict.CULPRIT, ("rich",), (), ()), found)
    entry = report.entries()["rich"]
    assert entry is not None and 'requirement: "rich<14.0.0"' in entry and "since: 14.1.0" in entry
    items = yaml.safe_load("constraints:\n" + entry)["constraints"]

    def add(doc):
        line(doc, 14)["constraints"] = items

    matrix = load_text(tmp_path, edit(add)(fixture_text()))
    bound = matrix.release("14.1.0").constraints
    assert [c.requirement for c in bound] == ["rich<14.0.0"] and not bound[0].allows("14.0.0")
    assert bound[0].allows("13.9.4") and matrix.release("14.0.2").constraints == ()
    assert "rich 14.0.0 breaks tests/image/test_airflow_runs.py -k version" in bound[0].reason
    assert "(found by `build.py bisect 14.0.2 14.1.0`)" in bound[0].reason
    text = candidates.as_text(report)
    assert "culprit:\n  rich 13.9.4 -> 14.0.0" in text and 'requirement: "rich<14.0.0"' in text
    assert candidates.as_json(report)["culprits"] == [{"package": "rich", "old": "13.9.4", "new": "14.0.0"}]


def test_no_constraint_for_a_package_bad_added_or_for_airflow():
    assert candidates.constraint_entry(Move("new", None, "1"), "14.1.0", "r") is None
    assert candidates.constraint_entry(Move("apache-airflow", "3.0.0", "3.0.1"), "14.1.0", "r") is None
    assert 'requirement: "x>1.0"' in candidates.constraint_entry(Move("x", "2.0", "1.0"), "14.1.0", "r")


def test_a_pair_report_names_the_partner_in_each_reason(tmp_path):
    found = (Move("a", "1", "2"), Move("b", "1", "2"))
    report = _report(tmp_path, Result(Verdict.TOGETHER, ("a", "b"), (), ()), found)
    assert "together with b 1 -> 2" in report.reason(found[0])
    assert "any one holds the pair apart" in candidates.as_text(report)


def test_a_side_is_a_version_or_a_lock_file_laid_out_as_locks(tmp_path):
    matrix = load_text(tmp_path, fixture_text())
    copy = tmp_path / "copy" / "14.1.0" / "python-3.13" / "amd64.txt"
    copy.parent.mkdir(parents=True)
    copy.write_text("rich==14.0.0 \\\n    --hash=sha256:00\n")
    found = candidates.side(matrix, tmp_path, str(copy), None, Platform.ARM64)
    assert (str(found.release.version), found.python, found.platform, found.pins) == \
        ("14.1.0", "3.13", Platform.AMD64, {"rich": "14.0.0"})
    assert found.release.released <= date.today()


def test_a_culprit_the_release_pins_is_moved_back_in_its_pin_not_constrained(tmp_path):
    found = (Move("apache-airflow-providers-celery", "3.14.1", "3.15.0"),)
    report = _report(tmp_path, Result(Verdict.CULPRIT, ("apache-airflow-providers-celery",), (), ()), found)
    assert report.entries() == {"apache-airflow-providers-celery": None}
    assert "pinned by 14.1.0's `packages:`: pin 3.14.1 there instead" in candidates.as_text(report)


@pytest.mark.parametrize(("selection", "message"), [
    (("tests/deploy/test_compose.py::test_x",), "deploy the images of a release by its version"),
    (("tests/deploy/test_upgrades.py", "tests/deploy/test_deployment.py"), "test_upgrades.py: these deployment"),
    (("tests/deploy/test_deployment.py", "tests/image/test_python_airflow.py"), "not both"),
])
def test_a_selection_no_probe_image_can_stand_in_for_is_refused_before_anything_is_built(selection, message):
    from runtime_builder.errors import UsageError
    from runtime_builder.images import bisect_run

    with pytest.raises(UsageError, match=message):
        bisect_run.refuse_deployments(selection)
    bisect_run.refuse_deployments(("tests/image/test_python_airflow.py", "-k", "deploy"))
    bisect_run.refuse_deployments(("tests/deploy/test_deployment.py", "-k", "celery and healthy"))
    bisect_run.refuse_deployments(("tests/deploy/test_browser.py::test_ui", "tests/deploy/test_deployment.py"))


def test_the_deployment_modules_bisect_probes_are_the_ones_that_build_on_the_onbuild_image_option():
    """bisect_run.DEPLOYING is every module of tests/deploy whose tests take the `deployed` fixture
    (which builds the project on --deploy-onbuild-image), and only those."""
    import ast

    from runtime_builder.images import bisect_run

    taking = set()
    for path in sorted((REPO_ROOT / "tests" / "deploy").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(node, ast.FunctionDef) and node.name.startswith("test")
               and "deployed" in [a.arg for a in node.args.args] for node in ast.walk(tree)):
            taking.add(path.relative_to(REPO_ROOT).as_posix())
    assert taking == set(bisect_run.DEPLOYING)
    conftest = (REPO_ROOT / "tests" / "deploy" / "conftest.py").read_text()
    assert 'request.config.getoption("--deploy-onbuild-image")' in conftest


@pytest.mark.parametrize("argv", [
    ["bisect", "--json", "--platform", "linux/amd64", "14.2.1", "14.3.0", "--", "tests/image/t.py", "-k", "a or b"],
    ["bisect", "14.2.1", "14.3.0", "--json", "--platform", "linux/amd64", "--", "tests/image/t.py", "-k", "a or b"],
])
def test_bisect_options_go_before_or_after_good_and_bad(argv):
    """What follows `--` is the selection, pytest's own options too; ours may come anywhere before it."""
    from runtime_builder.arguments import parse_arguments

    args = parse_arguments(argv)
    assert (args.good, args.bad, args.json, args.platform) == ("14.2.1", "14.3.0", True, "linux/amd64")
    assert args.selection == ["tests/image/t.py", "-k", "a or b"]


def test_a_deployment_probe_deploys_bads_onbuild_image_built_on_the_probe_image(checkout, monkeypatch):
    """A selection of deployment tests: each probe builds the -base image from the candidate and
    BAD's ONBUILD image on it (BASE_IMAGE the probe's), and runs the selection deploying that one
    (--deploy-onbuild-image, BAD's version); cleanup removes the ONBUILD image first."""
    import subprocess

    from runtime_builder.images import bisect_run
    from runtime_builder.lock import candidates
    from runtime_builder.matrix.load import load_matrix
    from runtime_builder.matrix.model import Channel, Platform

    matrix = load_matrix(checkout / "versions.yaml")
    nightly = max((r for r in matrix.releases if r.channel is Channel.NIGHTLY), key=lambda r: r.version)
    good = candidates.side(matrix, checkout, str(nightly.version), None, Platform.AMD64)
    built, removed, ran = [], [], []

    class Engine:
        def build(self, *, context, tag, platform, build_args, secrets, log_path):
            built.append((tag, (Path(context) / "Dockerfile").read_text(), build_args, platform))

        def remove_image(self, tag):
            removed.append(tag)

    real_run = subprocess.run

    def run(argv, *args, **kwargs):
        if "pytest" not in argv:
            return real_run(argv, *args, **kwargs)
        ran.append(argv)
        return subprocess.CompletedProcess(argv, bisect_run.FAILED)

    monkeypatch.setattr(subprocess, "run", run)
    selection = ("tests/deploy/test_deployment.py", "--deploy-executor", "local", "-k", "healthy")
    options = bisect_run.Options(selection, nightly.python, Platform.AMD64)
    probe = bisect_run.ImageProbe(checkout, matrix, good, good, (), options, Engine(), python_base="python@sha256:0")
    assert probe(frozenset()).red
    (base, base_file, base_args, _), (onbuild, onbuild_file, onbuild_args, platform) = built
    assert (base, onbuild) == ("airflow-runtime-bisect:probe-1", "airflow-runtime-bisect:probe-1-onbuild")
    assert "ONBUILD" not in base_file and "ONBUILD ARG RUNTIME_CHECK_DAGS" in onbuild_file
    assert onbuild_args["BASE_IMAGE"] == base and base_args["PYTHON_BASE"] == "python@sha256:0"
    assert platform == "linux/amd64"
    (argv,) = ran
    assert argv[argv.index("--deploy-onbuild-image") + 1] == onbuild and "--image" not in argv
    assert argv[argv.index("--deploy-version") + 1] == str(nightly.version)
    assert argv[argv.index("--deploy-platform") + 1] == "linux/amd64"
    assert probe.builds[0].tag == onbuild
    probe.cleanup()
    assert removed == [onbuild, base]
