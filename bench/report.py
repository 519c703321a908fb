"""docs/performance.md and its plots, generated from what was measured: the benchmark runs of
bench/recorded.json, the image sizes of evidence/image-sizes.json and the upgrade runs of
evidence/upgrades.json. Nothing here measures, and nothing in the page is written by hand.

    python3 bench/report.py            # write docs/performance.md and docs/performance/*.svg
    python3 bench/report.py --check    # exit 1 when they are not what the data makes (CI, unit tests)
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Sequence
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from recorded import RECORDED, UNKNOWN, runs  # noqa: E402

from runtime_builder import layout  # noqa: E402
from runtime_builder.generate import image_sizes, upgrade_matrix  # noqa: E402
from runtime_builder.matrix.load import load_matrix  # noqa: E402

PAGE = Path("docs/performance.md")
PLOTS = Path("docs/performance")
BAR, GAP, LABEL_WIDTH, WIDTH = 18, 6, 260, 760
NUMBER = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(%|x|s|MB)?")
UPGRADE = re.compile(r"^\S+ -> \S+$")  # an upgrade_pull_bench figure: the share of one upgrade
# The test command's stages (scripts/test-all), in its order; a run records those it had.
STAGES = ("setup", "bases", "unit, lint, render, build", "unit", "build", "tests", "image tests", "deployments",
          "arm64 deployment", "publish", "nightly slice")
# A line under a plot's heading, where the plot needs one to be read right.
NOTES = {
    "test-stages": "Each bar is one run's stages end to end, as far as the run recorded them; in the later runs "
                   "publish and the nightly slice run side by side, so a bar can be longer than the run's total.",
    "upgrade-pull": "Per upgrade, its last recorded run: the share of the new `-base` image's compressed layers a "
                    "host that has the old one fetches (issue 17: at most 30% when Airflow's version is "
                    "unchanged, at most 15% when only a provider moved).",
}
PALETTE = ("#4a7ab7", "#e39c37", "#5aa469", "#c45b5b", "#8e6bb8", "#7f7f7f", "#3fa7b5", "#b5a33f", "#d17fb0",
           "#6b8e23", "#a0522d", "#2f4f4f", "#999999")


def number(text: str) -> float | None:
    """The value of a recorded figure ("21.4 s", "63%", "0.11x"); None for text that is not one."""
    found = NUMBER.match(text.strip())
    return float(found[1]) if found else None


def bars(title: str, rows: Sequence[tuple[str, float]], unit: str, target: float | None = None) -> str:
    """A horizontal bar chart as SVG (GitHub shows it): one bar per row, a target as a line. Pure."""
    top = 34
    height = top + len(rows) * (BAR + GAP) + 24
    peak = max([value for _, value in rows] + [target or 0] + [1e-9])
    scale = (WIDTH - LABEL_WIDTH - 90) / peak
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
             f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>']
    for index, (label, value) in enumerate(rows):
        y = top + index * (BAR + GAP)
        parts += [f'<text x="{LABEL_WIDTH - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>',
                  f'<rect x="{LABEL_WIDTH}" y="{y}" width="{max(value * scale, 1):.1f}" height="{BAR}" '
                  'fill="#4a7ab7"/>',
                  f'<text x="{LABEL_WIDTH + value * scale + 6:.1f}" y="{y + 13}">{value:g} {escape(unit)}</text>']
    if target is not None:
        x = LABEL_WIDTH + target * scale
        parts += [f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 18}" stroke="#c0392b" '
                  'stroke-dasharray="4 3"/>',
                  f'<text x="{x:.1f}" y="{height - 6}" fill="#c0392b" text-anchor="middle">target {target:g} '
                  f'{escape(unit)}</text>']
    return "\n".join([*parts, "</svg>"]) + "\n"


def _runs_of(all_runs: list[dict], bench: str) -> list[dict]:
    return [run for run in all_runs if run["bench"] == bench]


def _when(run: dict) -> str:
    """A run's label: its date and commit, those the record knows ("unknown" ones left out)."""
    return " ".join(part for part in (run["date"], run["commit"]) if part != UNKNOWN) or "undated"


def stacked(title: str, rows: Sequence[tuple[str, Sequence[tuple[str, float]]]], unit: str,
            target: float | None = None, order: Sequence[str] = ()) -> str:
    """A horizontal stacked bar chart as SVG: one bar per row made of its named parts (one colour per
    name, a legend under the title in `order`, then first seen), the row's sum at its end, a target
    as a line. Pure."""
    seen = {name for _, parts in rows for name, _ in parts}
    names = list(dict.fromkeys([name for name in order if name in seen]
                               + [name for _, parts in rows for name, _ in parts]))
    colour = {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}
    legend_rows = -(-len(names) // 4)
    top = 34 + legend_rows * 18 + 6
    height = top + len(rows) * (BAR + GAP) + 24
    peak = max([sum(value for _, value in parts) for _, parts in rows] + [target or 0] + [1e-9])
    scale = (WIDTH - LABEL_WIDTH - 90) / peak
    parts_svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
                 f'font-family="sans-serif" font-size="12">',
                 f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
                 f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>']
    for index, name in enumerate(names):
        x, y = 10 + (index % 4) * 185, 30 + (index // 4) * 18
        parts_svg += [f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour[name]}"/>',
                      f'<text x="{x + 16}" y="{y + 10}">{escape(name)}</text>']
    for index, (label, parts) in enumerate(rows):
        y = top + index * (BAR + GAP)
        x = float(LABEL_WIDTH)
        parts_svg.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        for name, value in parts:
            parts_svg.append(f'<rect x="{x:.1f}" y="{y}" width="{max(value * scale, 1):.1f}" height="{BAR}" '
                             f'fill="{colour[name]}"><title>{escape(name)}: {value:g} {escape(unit)}</title></rect>')
            x += value * scale
        parts_svg.append(f'<text x="{x + 6:.1f}" y="{y + 13}">{sum(value for _, value in parts):g} '
                         f'{escape(unit)}</text>')
    if target is not None:
        x = LABEL_WIDTH + target * scale
        parts_svg += [f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 18}" stroke="#c0392b" '
                      'stroke-dasharray="4 3"/>',
                      f'<text x="{x:.1f}" y="{height - 6}" fill="#c0392b" text-anchor="middle">target {target:g} '
                      f'{escape(unit)}</text>']
    return "\n".join([*parts_svg, "</svg>"]) + "\n"


def stages(run: dict) -> list[tuple[str, float]]:
    """The test command's stages a run recorded, in the command's order, as seconds (the nightly slice
    as its build and image tests where only those were recorded)."""
    figures = run["figures"]
    names = [name for name in STAGES if name in figures]
    if "nightly slice" not in figures:
        names += [name for name in ("nightly build", "nightly image tests") if name in figures]
    found = [(name, number(figures[name])) for name in names]
    return [(name, value) for name, value in found if value is not None]


def upgrade_pulls(all_runs: list[dict]) -> list[tuple[str, float]]:
    """Each upgrade's share of the image a host fetches (`A -> B`), its last recorded run's, in the
    order upgrades were first recorded."""
    found: dict[str, float] = {}
    for run in _runs_of(all_runs, "upgrade_pull_bench"):
        for name, value in run["figures"].items():
            if UPGRADE.match(name) and number(value) is not None:
                found[name] = number(value)
    return list(found.items())


def plots(all_runs: list[dict], sizes: list[image_sizes.Size]) -> dict[str, str]:
    """name -> SVG of every plot. Pure."""
    found = {}
    commands = _runs_of(all_runs, "test-command")
    totals = [(_when(run), number(run["figures"].get("total", ""))) for run in commands]
    found["test-command"] = bars("The test command (make test), seconds, by run",
                                 [(label, total) for label, total in totals if total is not None], "s", 45 * 60)
    found["test-stages"] = stacked("The test command's stages, seconds, by run",
                                   [(_when(run), stages(run)) for run in commands if len(stages(run)) >= 3], "s",
                                   order=(*STAGES, "nightly build", "nightly image tests"))
    slim = _runs_of(all_runs, "slim_bench")
    found["slim-size"] = bars("Slim image size / full image size (amd64), by run",
                              [(_when(run), number(run["figures"]["linux/amd64 slim / full size"])) for run in slim],
                              "%", 60)
    found["slim-build"] = bars("Slim / full cold build time (amd64), by run",
                               [(_when(run), number(run["figures"]["linux/amd64 slim / full build"])) for run in slim],
                               "%", 70)
    found["upgrade-pull"] = bars("What an upgrade fetches, share of the compressed image, per upgrade",
                                 upgrade_pulls(all_runs), "%", 30)
    build = _runs_of(all_runs, "build_bench")[-1]["figures"]
    found["build"] = bars("A -base image build, seconds (last run)",
                          [(name, number(value)) for name, value in sorted(build.items())
                           if value.endswith(" s")], "s")
    deploys = _runs_of(all_runs, "deploy_bench")
    found["deploy"] = bars("A deployment of the fixture project, seconds (last run)",
                           [(name, number(value)) for name, value in sorted(deploys[-1]["figures"].items())], "s")
    found["image-sizes"] = bars("Image size (uncompressed), MB",
                                [(f"{s.version} {s.variant} {s.platform.split('/')[1]}", round(s.size / 1e6))
                                 for s in sorted(sizes, key=lambda s: (s.version, s.platform, s.variant))], "MB")
    return found


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, 100, break_on_hyphens=False)


def page(all_runs: list[dict], sizes: list[image_sizes.Size], upgrades: list[dict]) -> str:
    """docs/performance.md. Pure."""
    out = ["<!--", "Generated by bench/report.py from bench/recorded.json and evidence/*.json.",
           "Do not edit: record a run (`--record` on a bench), then run `python3 bench/report.py`.", "-->",
           "# Performance", "",
           *_wrapped("What the benchmarks under `bench/` measured, run by run: each run records its commit, date, "
                     "machine and figures in `bench/recorded.json` (`--record` on a bench); the image sizes and "
                     "upgrade runs are in `evidence/`. This page and its plots are generated from them (`python3 "
                     "bench/report.py`; a unit test fails when they are stale). The dashed line is the figure's "
                     "target. What each bench measures and how, the targets and why the figures are what they "
                     "are: [benchmarks](benchmarks.md)."), ""]
    for name, title in (("test-command", "The test command"), ("test-stages", "The test command's stages"),
                        ("slim-size", "Slim images: size"),
                        ("slim-build", "Slim images: cold build"), ("upgrade-pull", "Upgrades: what a host fetches"),
                        ("build", "Builds"), ("deploy", "Deployments"), ("image-sizes", "Image sizes")):
        out += [f"## {title}", "", f"![{title}](performance/{name}.svg)", ""]
        out += [*_wrapped(NOTES[name]), ""] if name in NOTES else []
    out += ["## Every recorded run", "", "| Bench | Date | Commit | Machine | Run | Figures |",
            "|---|---|---|---|---|---|"]
    for run in reversed(all_runs):
        figures = "; ".join(f"{name}: {value}" for name, value in sorted(run["figures"].items()))
        out.append(f"| {run['bench']} | {run['date']} | {run['commit']} | {run['machine']} | "
                   f"{run['run'].replace('|', '/')} | {figures.replace('|', '/')} |")
    out += ["", "## Upgrades and rollbacks", "",
            *_wrapped("Real runs on PostgreSQL (`bench/upgrade_report.py`, `evidence/upgrades.json`) of the pairs "
                      "`versions.yaml` promises (within the default release's line each release to the next; "
                      "across lines the newest of one line to the newest of the next, and back): `ok` nothing lost "
                      "and a new run succeeded; `needs` Airflow refused the step with the images as shipped and it "
                      "worked with what the detail names; `lossy` Airflow's own migration removed rows it accounts "
                      "for; `refused` Airflow refused the step; `not run` no run of the pair with these Airflow "
                      "versions is recorded."), "",
            "| Kind | From | To | Result | Checked | Detail |", "|---|---|---|---|---|---|"]
    out += [f"| {row['kind']} | {row['source']} | {row['target']} | {row['status']} | {row['checked_on']} | "
            f"{row['detail']} |" for row in upgrades]
    out += ["", "## Image sizes", "", *_wrapped("Measured by `bench/slim_bench.py` (`evidence/image-sizes.json`): "
                                                 "size as the engine reports it (uncompressed), pull = the compressed "
                                                 "layers a pull fetches."), "",
            "| Runtime | Python | Image | Platform | Size | Pull | Slim share | Measured |",
            "|---|---|---|---|--:|--:|---|---|"]
    matrix = load_matrix(ROOT / layout.VERSIONS_FILE)
    out += [f"| {row['runtime']} | {row['python']} | {row['variant']} | {row['platform']} | {row['size']} | "
            f"{row['pull']} | {row['share']} | {row['measured_on']} |" for row in image_sizes.rows(matrix, sizes)]
    return "\n".join(out) + "\n"


def generated(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file (repository-relative) and its text."""
    all_runs = runs(root / RECORDED.relative_to(ROOT))
    sizes = image_sizes.load(root / layout.IMAGE_SIZES)
    matrix = load_matrix(root / layout.VERSIONS_FILE)
    upgrades = upgrade_matrix.rows(matrix, upgrade_matrix.load(root / layout.UPGRADE_RESULTS))
    files = {PAGE: page(all_runs, sizes, upgrades)}
    files |= {PLOTS / f"{name}.svg": svg for name, svg in plots(all_runs, sizes).items()}
    return files


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files that are missing or differ, and plots nothing generates any more."""
    files = generated(root)
    found = [path for path, text in sorted(files.items())
             if not (root / path).is_file() or (root / path).read_text() != text]
    found += sorted(path.relative_to(root) for path in (root / PLOTS).glob("*.svg")
                    if path.relative_to(root) not in files) if (root / PLOTS).is_dir() else []
    return found


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        found = stale(root)
        for path in found:
            print(f"{path} is not what the recorded data makes; run `python3 bench/report.py`", file=sys.stderr)
        return 1 if found else 0
    files = generated(root)
    (root / PLOTS).mkdir(parents=True, exist_ok=True)
    for path in stale(root):
        if (root / path).exists() and path not in files:
            (root / path).unlink()
    for path, text in files.items():
        (root / path).write_text(text)
    print(f"wrote {PAGE} and {len(files) - 1} plots under {PLOTS}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
