"""The layered virtual environment: a lock split into layers, and the build contexts that install them."""

from __future__ import annotations

from pathlib import PurePosixPath

from runtime_builder.contract import Change
from runtime_builder.generate import render
from runtime_builder.generate.venv_layers import Copy, Layer, copies, entries, layer_of, split
from runtime_builder.lock.locks import read_locks
from runtime_builder.lock.resolver import pins
from runtime_builder.matrix.load import load_matrix

from .support import REPO_ROOT as ROOT

FULL = """# Lock of Runtime 9.9.9 for Python 3.13 on linux/amd64.
# Written by `build.py lock`; do not edit.
apache-airflow==3.3.2 \\
    --hash=sha256:aa
apache-airflow-core==3.3.2 \\
    --hash=sha256:ab
apache-airflow-providers-celery==3.21.0 \\
    --hash=sha256:ac
apache-airflow-providers-postgres==6.8.0 \\
    --hash=sha256:ad
apache-airflow-task-sdk==1.3.2 \\
    --hash=sha256:ae
celery==5.6.3 \\
    --hash=sha256:b1 \\
    --hash=sha256:b2
psycopg2-binary==2.9.11 \\
    --hash=sha256:c1
sqlalchemy==2.0.44 \\
    --hash=sha256:d1
"""
SLIM = """# Lock of the slim images of Runtime 9.9.9: a subset of amd64.txt, at its versions.
apache-airflow==3.3.2 \\
    --hash=sha256:aa
apache-airflow-core==3.3.2 \\
    --hash=sha256:ab
apache-airflow-providers-postgres==6.8.0 \\
    --hash=sha256:ad
apache-airflow-task-sdk==1.3.2 \\
    --hash=sha256:ae
psycopg2-binary==2.9.11 \\
    --hash=sha256:c1
sqlalchemy==2.0.44 \\
    --hash=sha256:d1
"""


def header(layer: Layer) -> str:
    return f"# {layer.value}\n"


def test_each_package_goes_to_the_layer_of_how_often_it_changes() -> None:
    core = set(pins(SLIM))
    assert layer_of("apache-airflow", core) is Layer.AIRFLOW
    assert layer_of("apache_airflow_task_sdk", core) is Layer.AIRFLOW
    assert layer_of("apache-airflow-providers-celery", core) is Layer.PROVIDERS
    assert layer_of("SQLAlchemy", core) is Layer.DEPENDENCIES
    assert layer_of("celery", core) is Layer.PROVIDER_DEPENDENCIES
    assert layer_of("celery", None) is Layer.DEPENDENCIES  # no slim lock: every third-party package


def test_the_layers_are_disjoint_and_together_exactly_the_lock() -> None:
    found = split(FULL, SLIM, header)
    assert found.layers == tuple(layer for layer in Layer if layer is not Layer.MOVED)  # a bisection's only
    together = {}
    for layer, text in found.parts.items():
        assert text.startswith(header(layer))
        assert not set(pins(text)) & set(together)
        together |= pins(text)
    assert together == pins(FULL)
    assert found.parts[Layer.PROVIDER_DEPENDENCIES] == header(Layer.PROVIDER_DEPENDENCIES) + \
        "celery==5.6.3 \\\n    --hash=sha256:b1 \\\n    --hash=sha256:b2\n"
    # Every hash stays with its package.
    assert sum(text.count("--hash=") for text in found.parts.values()) == FULL.count("--hash=")


def test_the_slim_and_the_full_image_share_the_dependencies_layer_file() -> None:
    full, slim = split(FULL, SLIM, header), split(SLIM, SLIM, header)
    assert full.parts[Layer.DEPENDENCIES] == slim.parts[Layer.DEPENDENCIES]
    assert full.parts[Layer.AIRFLOW] == slim.parts[Layer.AIRFLOW]
    assert Layer.PROVIDER_DEPENDENCIES not in slim.parts  # an empty layer is left out


def test_a_bisections_moves_go_to_a_last_layer_of_their_own_but_airflows_stay_where_its_patches_apply() -> None:
    moved = ("SQLAlchemy", "celery", "apache-airflow-core", "apache-airflow-providers-postgres")
    assert layer_of("sqlalchemy", set(pins(SLIM)), {"sqlalchemy"}) is Layer.MOVED
    found = split(FULL, SLIM, header, moved)
    assert found.layers[-1] is Layer.MOVED
    assert set(pins(found.parts[Layer.MOVED])) == {"sqlalchemy", "celery", "apache-airflow-providers-postgres"}
    assert "apache-airflow-core" in pins(found.parts[Layer.AIRFLOW])
    assert {k: v for text in found.parts.values() for k, v in pins(text).items()} == pins(FULL)
    assert copies(found.layers, bytecode=True, apart=True)[-2:] == (Copy(Layer.MOVED, False), Copy(Layer.MOVED, True))


def test_a_probe_context_installs_the_moves_in_the_last_venv_stage() -> None:
    """The context `build.py bisect` builds each probe from: render's, with the moves apart."""
    matrix = load_matrix(ROOT / "versions.yaml")
    locks = read_locks(ROOT)
    release = next(r for r in reversed(matrix.releases) if r.has(Change.LAYERED_VENV))
    lock = locks[PurePosixPath("locks", str(release.version), f"python-{release.python}", "amd64.txt")]
    moved = sorted(pins(lock))[:3]
    files = render.render_tree(matrix, ROOT / "templates", locks, moved=moved)
    context = PurePosixPath("distributions", str(release.version), f"python-{release.python}", "base")
    assert set(pins(files[context / "locks" / "moved" / "amd64.txt"].content.decode())) == set(moved) - {
        name for name in moved if name.startswith("apache-airflow") and "providers" not in name}
    dockerfile = files[context / "Dockerfile"].content.decode()
    assert "AS venv-moved" in dockerfile
    copies_at = [line for line in dockerfile.splitlines() if line.startswith("COPY --from=venv-")]
    assert copies_at[-1].startswith("COPY --from=venv-moved")
    assert b"venv-moved" not in (ROOT / context / "Dockerfile").read_bytes()  # never in a release's own


def test_entries_keep_the_lock_order_and_drop_comments() -> None:
    assert [name for name, _ in entries(FULL)][:3] == ["apache-airflow", "apache-airflow-core",
                                                       "apache-airflow-providers-celery"]
    assert all("#" not in text.replace("--hash", "") for _, text in entries(FULL))


def test_a_layered_release_context_installs_each_layer_from_its_own_lock_file() -> None:
    """On the real matrix: every release with the change gets per-layer lock files that add up to
    its lock, a stage per layer and one COPY per layer; releases without it render as before."""
    matrix = load_matrix(ROOT / "versions.yaml")
    locks = read_locks(ROOT)
    layered = [r for r in matrix.releases if r.has(Change.LAYERED_VENV)]
    assert layered, "no release has the layered-venv change"
    release = layered[0]
    python = release.python
    for variant in (v for v in release.variants if v.is_base):
        context = PurePosixPath("distributions", str(release.version), f"python-{python}", variant.value)
        files, layers = render.copy_locks(release, python, context, locks, slim=variant.is_slim)
        assert layers and layers[0] is Layer.DEPENDENCIES
        for platform in release.platforms:
            lock = locks[PurePosixPath("locks", str(release.version), f"python-{python}",
                                       f"{'slim-' if variant.is_slim else ''}{platform.arch}.txt")]
            parts = [files[context / "locks" / layer.value / f"{platform.arch}.txt"].content.decode()
                     for layer in layers]
            assert {k: v for part in parts for k, v in pins(part).items()} == pins(lock)
            assert context / "locks" / f"{platform.arch}.txt" not in files
        dockerfile = (ROOT / context / "Dockerfile").read_text()
        for layer in layers:
            assert f"AS venv-{layer.value}" in dockerfile
            assert f"COPY --from=venv-{layer.value} " in dockerfile
    unlayered = next(r for r in matrix.releases if not r.has(Change.LAYERED_VENV))
    context = PurePosixPath("distributions", str(unlayered.version), f"python-{unlayered.python}", "base")
    files, layers = render.copy_locks(unlayered, unlayered.python, context, locks)
    assert layers == () and context / "locks" / "amd64.txt" in files


def test_the_image_check_names_a_package_in_the_wrong_layer_and_a_second_skeleton() -> None:
    from tests.image import checks

    expected = [("dependencies", {"sqlalchemy"}), ("airflow", {"apache-airflow"}), ("providers", {"p"})]
    assert checks.check_venv_layers(expected, [{"sqlalchemy"}, {"apache-airflow"}, {"p"}], [0]) == []
    problems = checks.check_venv_layers(expected, [{"sqlalchemy", "p"}, {"apache-airflow"}], [0, 1])
    assert "2 image layers add distributions to /opt/runtime/venv; the layered venv has 3" in problems[0]
    assert "venv layer 1 (dependencies) holds p, which belong to another layer" in problems
    assert any("pyvenv.cfg is in venv layers [1, 2]" in p for p in problems)
    one_layer = checks.check_venv_layers(expected, [{"sqlalchemy", "apache-airflow", "p"}], [0])
    assert "venv layer 1 (dependencies) holds apache-airflow, p, which belong to another layer" in one_layer


def test_copies_keep_the_shared_layers_first_and_each_other_layer_beside_its_byte_code() -> None:
    full = (Layer.DEPENDENCIES, Layer.AIRFLOW, Layer.PROVIDER_DEPENDENCIES, Layer.PROVIDERS)
    slim = (Layer.DEPENDENCIES, Layer.AIRFLOW, Layer.PROVIDERS)
    files, code = (lambda layer: Copy(layer, False)), (lambda layer: Copy(layer, True))
    # Before slim-no-bytecode: each layer once, its byte-code in it.
    assert copies(full, bytecode=True, apart=False) == tuple(files(layer) for layer in full)
    # The full image: the shared layers' files first, then their byte-code, then each other
    # layer's files and its byte-code (a provider's patch moves the last two only).
    assert copies(full, bytecode=True, apart=True) == (
        files(Layer.DEPENDENCIES), files(Layer.AIRFLOW), code(Layer.DEPENDENCIES), code(Layer.AIRFLOW),
        files(Layer.PROVIDER_DEPENDENCIES), code(Layer.PROVIDER_DEPENDENCIES),
        files(Layer.PROVIDERS), code(Layer.PROVIDERS))
    # The slim image: no byte-code; its first layers are the full image's first layers.
    assert copies(slim, bytecode=False, apart=True) == tuple(files(layer) for layer in slim)
    assert copies(full, bytecode=True, apart=True)[:2] == copies(slim, bytecode=False, apart=True)[:2]


def test_a_slim_image_without_byte_code_renders_its_copies_and_its_variable() -> None:
    """On the real matrix: from slim-no-bytecode on, each venv stage stages no byte-code and a stage
    of its own compiles it, in the same text for both images (so BuildKit builds them once); the
    full image copies it and the slim one does not (so its build never compiles it), and names the
    prefix; its ONBUILD steps install without byte-code."""
    matrix = load_matrix(ROOT / "versions.yaml")
    release = next(r for r in matrix.releases if r.has(Change.SLIM_NO_BYTECODE))
    folder = ROOT / "distributions" / str(release.version) / f"python-{release.python}"
    full, slim = (folder / "base" / "Dockerfile").read_text(), (folder / "slim-base" / "Dockerfile").read_text()

    def stage(text: str, name: str) -> list[str]:  # its instructions (comments say "layer 2 of 3")
        body = text.split(f"AS venv-{name}\n", 1)[1].split("\nFROM ", 1)[0]
        return [line for line in body.splitlines() if not line.startswith("#")]

    for layer in ("dependencies", "airflow"):
        assert stage(full, layer) == stage(slim, layer)
        assert not any("compileall" in line for line in stage(full, layer))
        assert any("compileall" in line for line in stage(full, f"{layer}-bytecode"))
        assert f"COPY --from=venv-{layer}-bytecode /layer-bytecode/ /" in full
    assert "/layer-bytecode/ /" not in slim
    assert 'PYTHONPYCACHEPREFIX="/tmp/pycache"' in slim
    assert "PYTHONPYCACHEPREFIX" not in full
    onbuild = (folder / "slim" / "onbuild-install.sh").read_text()
    assert "--no-compile" in onbuild and "export PYTHONDONTWRITEBYTECODE=1" in onbuild
    assert "--no-compile" not in (folder / "onbuild" / "onbuild-install.sh").read_text()
