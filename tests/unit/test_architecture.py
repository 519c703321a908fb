"""The package's shape, as the layout table (docs/architecture/layout.md) describes it: stages that only import from
themselves or earlier stages, no import cycle, modules a reader can hold in their head, and one
home for each fact that used to be repeated."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .support import REPO_ROOT

PACKAGE = REPO_ROOT / "runtime_builder"
# Pipeline order: a module may import from its own stage or an earlier one, never a later one.
STAGES = ("errors", "in_image", "layout", "contract", "headers", "log", "faults", "matrix", "lock", "generate",
          "images", "publish", "deploy", "dev", "release", "arguments", "cli", "__main__")
MAX_LINES = 450
LONGER: dict[str, int] = {}  # modules allowed over MAX_LINES, with the reason


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports (module-level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in known else target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {module for module in found if module in known and module != name}


def stage(module: str) -> int:
    part = module.split(".")[1] if module.count(".") else ""
    return STAGES.index(part) if part in STAGES else -1


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_module_belongs_to_a_stage():
    assert [m for m in modules() if m != "runtime_builder" and stage(m) < 0] == []


def test_imports_point_down_the_pipeline():
    upward = [f"{a} imports {b}" for a, targets in graph().items() for b in sorted(targets) if stage(b) > stage(a)]
    assert upward == []


def test_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_in_image_code_uses_the_standard_library_only():
    for path in (PACKAGE / "in_image").glob("*.py"):
        tree = ast.parse(path.read_text())
        named = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
        named |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                  if isinstance(node, ast.ImportFrom) and not node.level}
        assert named - {""} <= set(__import__("sys").stdlib_module_names) | {"airflow"}, path.name


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_modules_stay_readable(path: Path):
    name = str(path.relative_to(REPO_ROOT))
    assert len(path.read_text().splitlines()) <= LONGER.get(name, MAX_LINES)


# One home per fact: a value that used to be copied between modules now appears once.
FACTS = [
    ("the local registry", r"127\.0\.0\.1:5000", {"runtime_builder/layout.py", "runtime_builder/arguments.py",
                                                   "runtime_builder/publish/registry.py"}),
    ("the venv path", r"/opt/runtime/venv|RUNTIME_DIR}/venv", {"runtime_builder/contract.py"}),
    ("the image user's uid", r"\b50000\b", {"runtime_builder/contract.py",
                                            "runtime_builder/in_image/entrypoint.py"}),
    ("uv's target triples", r"unknown-linux-gnu", {"runtime_builder/matrix/model.py"}),
    ("the -base suffix", r"\"-base\"", {"runtime_builder/matrix/model.py"}),
    ("the instance name variable", r"INSTANCE_NAME\"", {"runtime_builder/contract.py"}),
    ("uv's compile call", r"\"compile\"", {"runtime_builder/lock/resolver.py"}),
    ("the build records' naming", r"hexdigest\(\)\[:16\]", {"runtime_builder/images/builder.py"}),
]


@pytest.mark.parametrize(("fact", "pattern", "homes"), FACTS, ids=[fact for fact, _, _ in FACTS])
def test_each_fact_has_one_home(fact, pattern, homes):
    found = {str(path.relative_to(REPO_ROOT)) for path in PACKAGE.rglob("*.py")
             if re.search(pattern, path.read_text())}
    found |= {str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "templates").rglob("*.j2")
              if re.search(pattern, path.read_text())}
    assert found <= homes, f"{fact} is spelled out in {sorted(found - homes)}"


def test_every_error_class_lives_in_errors():
    """cibuildwheel's errors.py: one home for every error the tool raises, each with its exit code
    (the in-image scripts, which run alone in images, keep theirs)."""
    elsewhere = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" or path.parent.name == "in_image":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    (getattr(base, "id", None) or getattr(base, "attr", "")).endswith(("Error", "Exception"))
                    for base in node.bases):
                elsewhere.append(f"{path.relative_to(REPO_ROOT)}: {node.name}")
    assert elsewhere == []


def test_the_readme_layout_table_names_every_module():
    """A newcomer finds every module by its name in the table of the package (docs/architecture/layout.md,
    linked from the README)."""
    table = (REPO_ROOT / "docs" / "architecture" / "layout.md").read_text()
    assert "docs/architecture/layout.md" in (REPO_ROOT / "README.md").read_text()
    missing = []
    for name, path in modules().items():
        parts = name.split(".")
        if path.name == "__init__.py":
            continue
        if f"`{parts[-1]}`" not in table:
            missing.append(name)
    assert missing == []
