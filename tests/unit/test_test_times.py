"""scripts/test_times.py: the slowest test modules of a run, from the stages' JUnit reports."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from .support import REPO_ROOT

SPEC = importlib.util.spec_from_file_location("test_times", REPO_ROOT / "scripts" / "test_times.py")
assert SPEC and SPEC.loader
test_times = importlib.util.module_from_spec(SPEC)
sys.modules["test_times"] = test_times  # dataclasses look their module up while the class is made
SPEC.loader.exec_module(test_times)

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.image.test_onbuild" name="test_a[img]" time="30.5"/>
<testcase classname="tests.image.test_onbuild.TestProjects" name="test_b" time="10.0"/>
<testcase classname="tests.image.test_pins" name="test_c" time="2.25"/>
<testcase classname="tests.image.test_pins" name="test_d" time="0.75"/>
</testsuite></testsuites>
"""


def test_modules_are_summed_per_file_and_sorted_slowest_first(tmp_path: Path) -> None:
    report = tmp_path / "junit-image.xml"
    report.write_text(REPORT)
    rows = test_times.module_times([report])
    assert [(r.module, r.stage, r.seconds, r.tests) for r in rows] == [
        ("tests/image/test_onbuild.py", "image", 40.5, 2),
        ("tests/image/test_pins.py", "image", 3.0, 2),
    ]
    text = test_times.table(rows, top=1)
    assert "tests/image/test_onbuild.py" in text and "tests/image/test_pins.py" not in text
    assert text.splitlines()[-1].split()[:2] == ["43.5", "4"], "the total covers every module, not only the top"


def test_no_reports_is_said_not_an_error(capsys) -> None:
    assert test_times.main([]) == 0
    assert "no JUnit reports" in capsys.readouterr().err
