"""Where the test command's time goes: the slowest test modules of a run, from the JUnit XML files
the stages of scripts/test-all write (build/reports/junit-*.xml).

    python3 scripts/test_times.py build/reports/junit-*.xml [--top 15]

Prints one row per test module (its file), slowest first: seconds, tests, and the stage (report)
it ran in. Prints figures only; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModuleTime:
    module: str  # tests/image/test_onbuild.py
    stage: str  # the report's name: junit-image.xml -> image
    seconds: float
    tests: int


def module_times(reports: list[Path]) -> list[ModuleTime]:
    """Every test module of `reports`, with the time of its test cases summed, slowest first."""
    totals: dict[tuple[str, str], list[float]] = {}
    for report in reports:
        stage = report.stem.removeprefix("junit-")
        for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314 - our own pytest's reports
            classname = case.get("classname", "")
            module = classname.replace(".", "/")
            # pytest's classname: tests.image.test_onbuild(.TestClass); the module is the file.
            parts = classname.split(".")
            while parts and not parts[-1].startswith("test_"):
                parts.pop()
            if parts:
                module = "/".join(parts) + ".py"
            entry = totals.setdefault((module, stage), [0.0, 0])
            entry[0] += float(case.get("time") or 0)
            entry[1] += 1
    rows = [ModuleTime(module, stage, seconds, int(tests)) for (module, stage), (seconds, tests) in totals.items()]
    return sorted(rows, key=lambda r: (-r.seconds, r.module))


def table(rows: list[ModuleTime], top: int) -> str:
    lines = [f"{'seconds':>8}  {'tests':>5}  {'stage':<10} module"]
    lines += [f"{r.seconds:8.1f}  {r.tests:>5}  {r.stage:<10} {r.module}" for r in rows[:top]]
    total = sum(r.seconds for r in rows)
    lines.append(f"{total:8.1f}  {sum(r.tests for r in rows):>5}  {'all':<10} {len(rows)} modules")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="*", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    reports = [r for r in args.reports if r.exists()]
    if not reports:
        print("no JUnit reports to read", file=sys.stderr)
        return 0
    print(table(module_times(reports), args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
