"""publish's test step with a real test command (a small script standing in for `build.py test`):
native images first and a native failure stops it; emulated images side by side; every pass
recorded, so a re-run tests only what failed; a recorded pass of the same command is reused."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from runtime_builder import layout
from runtime_builder.images.builder import BuildOptions
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Platform
from runtime_builder.publish.plan import select_images
from runtime_builder.publish.publish import PublishError, PublishOptions, PublishReport, _ensure_tested
from runtime_builder.publish.registry import Target

ROOT = Path(__file__).resolve().parents[2]

# Appends "start REF <time>" and "end REF <time>" to the log; fails for images named in FAIL.
HOOK = """
import os, sys, time
ref, log = sys.argv[1], sys.argv[2]
def note(what):
    with open(log, "a") as f:
        f.write(f"{what} {ref} {time.monotonic()}\\n")
note("start")
time.sleep(float(os.environ.get("HOOK_SECONDS", "0")))
note("end")
print(f"tested {ref}")
sys.exit(1 if ref in os.environ.get("HOOK_FAIL", "").split(",") else 0)
"""


@pytest.fixture
def setup(tmp_path: Path):
    matrix = load_matrix(ROOT / "versions.yaml")
    release = matrix.default_release()
    specs = [spec for image in select_images(matrix, [release], pythons=[release.python]) for spec in image.specs()]
    ids = {spec: f"sha256:{i:064x}" for i, spec in enumerate(specs, 1)}
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    log = tmp_path / "log"
    command = f"{shlex.quote(sys.executable)} {hook} {{image}} {log}"
    options = PublishOptions(Target.parse("127.0.0.1:5000/airflow-runtime", "airflow-runtime"), BuildOptions(),
                             test_command=command)
    return tmp_path, specs, ids, options, log


def events(log: Path) -> list[tuple[str, str, float]]:
    return [(what, ref, float(at)) for what, ref, at in (line.split() for line in log.read_text().splitlines())]


def test_native_first_then_emulated_side_by_side(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    root, specs, ids, options, log = setup
    monkeypatch.setenv("HOOK_SECONDS", "1")
    native = Platform.native()
    report = PublishReport()
    _ensure_tested(root, specs, ids, options, report)
    assert report.tested == len(specs) and report.tests_skipped == 0
    seen = events(log)
    order = [ref for what, ref, _ in seen if what == "start"]
    natives = [s.reference() for s in specs if s.platform is native]
    assert set(order[:len(natives)]) == set(natives), "native images are tested first"
    emulated = {ref: at for what, ref, at in seen if what == "start" and ref not in natives}
    ends = {ref: at for what, ref, at in seen if what == "end" and ref in emulated}
    assert len(emulated) > 1
    if (cpus := os.cpu_count() or 1) > 1:
        first_end = min(ends.values())
        assert sum(at < first_end for at in emulated.values()) >= min(cpus, len(emulated)), \
            f"emulated images run side by side, one per core: {seen}"
    passes = sorted(p.name for p in layout.Layout(root).test_passes.glob("*.json"))
    assert passes == sorted(f"{i.removeprefix('sha256:')}.json" for i in ids.values())

    again = PublishReport()
    _ensure_tested(root, specs, ids, options, again)
    assert (again.tested, again.tests_skipped) == (0, len(specs)), "a recorded pass of the same command is reused"


def test_a_native_failure_stops_before_the_emulated_images(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    root, specs, ids, options, log = setup
    native = Platform.native()
    failing = next(s for s in specs if s.platform is native)
    monkeypatch.setenv("HOOK_FAIL", failing.reference())
    with pytest.raises(PublishError, match="nothing was pushed and no tag was changed") as raised:
        _ensure_tested(root, specs, ids, options, PublishReport())
    assert failing.reference() in str(raised.value)
    started = [ref for what, ref, _ in events(log) if what == "start"]
    assert started == [failing.reference()], "nothing is tested after the first native failure"


def test_an_emulated_failure_keeps_the_other_passes(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    root, specs, ids, options, log = setup
    native = Platform.native()
    emulated = [s for s in specs if s.platform is not native]
    failing, passing = emulated[0], emulated[1:]
    monkeypatch.setenv("HOOK_FAIL", failing.reference())
    with pytest.raises(PublishError) as raised:
        _ensure_tested(root, specs, ids, options, PublishReport())
    message = str(raised.value)
    assert failing.reference() in message and failing.platform.value in message
    assert not any(s.reference() in message for s in passing)
    recorded = {json.loads(p.read_text())["reference"] for p in layout.Layout(root).test_passes.glob("*.json")}
    assert recorded == {s.reference() for s in specs} - {failing.reference()}

    monkeypatch.delenv("HOOK_FAIL")
    log.unlink()
    rerun = PublishReport()
    _ensure_tested(root, specs, ids, options, rerun)
    assert (rerun.tested, rerun.tests_skipped) == (1, len(specs) - 1)
    assert [ref for what, ref, _ in events(log) if what == "start"] == [failing.reference()]
