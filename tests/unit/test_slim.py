"""Slim images: the matrix says which releases have them and what they keep; locks, contexts,
tags and environment follow from it."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from runtime_builder import contract, layout
from runtime_builder.errors import MatrixError
from runtime_builder.generate import render
from runtime_builder.generate.specs import Filters, all_specs, select
from runtime_builder.lock.locks import LockCell, read_locks, slim_problems, stale_locks, verify
from runtime_builder.lock.resolver import pins
from runtime_builder.matrix.load import parse_text
from runtime_builder.matrix.model import Matrix, Platform, Variant

from .support import REPO_ROOT

SOURCE = (REPO_ROOT / "versions.yaml").read_text()
SLIM_BLOCK = """    slim_packages:
      - apache-airflow-providers-common-sql
      - apache-airflow-providers-fab  # from 14.2.0 (fab-auth-manager): the default auth manager
      - apache-airflow-providers-postgres
      - apache-airflow-providers-standard
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(MatrixError) as caught:
        parse_text(text, REPO_ROOT)
    return [problem.render("versions.yaml") for problem in caught.value.problems]


def test_the_default_release_has_slim_images_and_releases_before_the_change_do_not(committed_matrix: Matrix) -> None:
    default = committed_matrix.default_release()
    assert default.variants == (Variant.BASE, Variant.ONBUILD, Variant.SLIM_BASE, Variant.SLIM)
    names = [name for name, _ in default.slim_packages]
    assert "apache-airflow-providers-postgres" in names and "apache-airflow-providers-celery" not in names
    assert set(default.slim_packages) < set(default.packages), "a subset of the pins, at their versions"
    first = min(release.version for release in committed_matrix.releases if release.has_slim)
    for release in committed_matrix.releases:
        if release.version < first:
            assert release.variants == (Variant.BASE, Variant.ONBUILD) and release.slim_packages == ()
        elif release.line == default.line:
            assert release.has_slim and release.variants == default.variants


def test_slim_images_leave_out_the_variables_of_providers_they_do_not_install(committed_matrix: Matrix) -> None:
    release = committed_matrix.default_release()
    full, slim = dict(release.environment), dict(release.environment_of(Variant.SLIM))
    assert release.environment_of(Variant.BASE) == release.environment
    assert "AIRFLOW__KUBERNETES_EXECUTOR__WORKER_PODS_CREATION_BATCH_SIZE" in full
    assert "AIRFLOW__KUBERNETES_EXECUTOR__WORKER_PODS_CREATION_BATCH_SIZE" not in slim
    for variable in ("PYTHONPYCACHEPREFIX", contract.PYCACHE_PREFIX_VARIABLE):
        slim.pop(variable, None)  # where a slim image without byte-code compiles (checked below)
    assert {name: value for name, value in full.items() if contract.provider_of(name) is None} == slim
    assert release.environment_of(Variant.SLIM_BASE) == release.environment_of(Variant.SLIM)


def test_slim_images_without_byte_code_name_where_python_keeps_it(committed_matrix: Matrix) -> None:
    """From slim-no-bytecode on a slim image ships no byte-code and sets PYTHONPYCACHEPREFIX; the
    full images, and the slim images of releases before the change, ship it and do not."""
    releases = [release for release in committed_matrix.releases if release.has_slim]
    with_change = [release for release in releases if release.has(contract.Change.SLIM_NO_BYTECODE)]
    assert with_change and len(with_change) < len(releases)
    for release in releases:
        changed = release in with_change
        # From bytecode-cache-per-uid on the image names the prefix for the entry point, which makes
        # a folder per uid beside it and sets PYTHONPYCACHEPREFIX itself.
        variable = (contract.PYCACHE_PREFIX_VARIABLE if release.has(contract.Change.PYCACHE_PER_UID)
                    else "PYTHONPYCACHEPREFIX")
        for variant in Variant:
            ships = release.ships_bytecode(variant)
            assert ships == (not (changed and variant.is_slim)), (release.version, variant)
            environment = dict(release.environment_of(variant))
            assert environment.get(variable) == (None if ships else contract.PYCACHE_PREFIX), (release.version, variant)
            other = ({"PYTHONPYCACHEPREFIX", contract.PYCACHE_PREFIX_VARIABLE} - {variable}).pop()
            assert other not in environment, (release.version, variant)


def test_provider_of_names_only_provider_owned_sections() -> None:
    assert contract.provider_of("AIRFLOW__CELERY__WORKER_CONCURRENCY") == "apache-airflow-providers-celery"
    assert contract.provider_of("AIRFLOW__CORE__LOAD_EXAMPLES") is None
    assert contract.provider_of("AIRFLOW_RUNTIME_VERSION") is None


def test_a_slim_package_no_release_pins_is_an_error_naming_it() -> None:
    text = SOURCE.replace("      - apache-airflow-providers-standard\n",
                          "      - apache-airflow-providers-standard\n      - apache-airflow-providers-amazon\n", 1)
    found = problems_of(text)
    assert any("slim_packages" in p and "apache-airflow-providers-amazon" in p and "Runtime 14" in p
               for p in found), found


def test_a_slim_package_a_later_release_adds_is_kept_from_that_release_on(committed_matrix: Matrix) -> None:
    """A minor may add a package to the line and to its slim images: the releases before it keep
    what they pinned."""
    for release in committed_matrix.releases:
        if release.has_slim:
            assert set(release.slim_packages) <= set(release.packages), release.version


def test_a_release_with_the_slim_change_needs_its_line_to_list_slim_packages() -> None:
    assert SLIM_BLOCK in SOURCE
    found = problems_of(SOURCE.replace(SLIM_BLOCK, "", 1))
    assert any("Runtime 14" in p and "slim_packages" in p and "missing" in p for p in found), found


def test_slim_packages_must_be_package_names() -> None:
    found = problems_of(SOURCE.replace("      - apache-airflow-providers-standard\n", "      - 'not a name!'\n", 1))
    assert any("slim_packages" in p and "not a name!" in p for p in found), found


def test_slim_specs_build_on_slim_bases(committed_matrix: Matrix) -> None:
    release = committed_matrix.default_release()
    specs = select(committed_matrix, Filters(versions=(str(release.version),), variants=(Variant.SLIM,),
                                             default_python_only=True))
    assert {spec.platform for spec in specs} == set(release.platforms)
    for spec in specs:
        assert spec.base_spec().variant is Variant.SLIM_BASE
        assert spec.context == PurePosixPath("distributions", str(release.version), f"python-{release.python}", "slim")
        assert spec.reference().endswith(f"{release.version}-python-{release.python}-slim-{spec.platform.arch}")
    assert not [s for s in all_specs(committed_matrix) if s.variant.is_slim and not s.release.has_slim]


def test_slim_locks_are_committed_subsets_of_the_full_locks(committed_matrix: Matrix) -> None:
    release = committed_matrix.default_release()
    assert [p for p in stale_locks(committed_matrix, REPO_ROOT) if "slim-" in p] == []
    for python in release.pythons:
        for platform in release.platforms:
            cell = LockCell(release, python, platform)
            full = (REPO_ROOT / cell.path).read_text()
            slim = (REPO_ROOT / cell.slim_cell().path).read_text()
            assert verify(cell.slim_cell(), slim) == []
            assert slim_problems(cell, slim, full) == []
            assert set(pins(slim).items()) < set(pins(full).items())
            assert "apache-airflow-providers-celery" not in pins(slim) and "kubernetes" not in pins(slim)


def test_a_slim_lock_that_strays_from_the_full_lock_is_stale(committed_matrix: Matrix) -> None:
    release = committed_matrix.default_release()
    cell = LockCell(release, release.python, Platform.AMD64)
    full = (REPO_ROOT / cell.path).read_text()
    slim = (REPO_ROOT / cell.slim_cell().path).read_text()
    version = pins(slim)["alembic"]
    strayed = slim.replace(f"alembic=={version} ", "alembic==0.0.1 ", 1)
    assert strayed != slim
    found = slim_problems(cell, strayed, full)
    assert found and all(cell.slim_cell().path in p for p in found) and "alembic" in found[0]
    assert "missing" in slim_problems(cell, None, full)[0]


def test_slim_contexts_hold_the_slim_locks_under_the_full_names(committed_matrix: Matrix) -> None:
    release = committed_matrix.default_release()
    locks = read_locks(REPO_ROOT)
    tree = render.render_tree(committed_matrix, REPO_ROOT / layout.TEMPLATES, locks)
    folder = PurePosixPath("distributions", str(release.version), f"python-{release.python}")
    layered = release.has(contract.Change.LAYERED_VENV)
    for platform in release.platforms:
        slim_lock = locks[layout.lock_file(str(release.version), release.python, platform.arch, slim=True)]
        if layered:  # the slim lock split into the venv's layers: every pin of it in one of them
            layers = folder / "slim-base" / "locks"
            copied = "".join(rendered.content.decode() for path, rendered in tree.items()
                             if path.parent.parent == layers and path.name == f"{platform.arch}.txt")
            assert set(pins(copied)) == set(pins(slim_lock)), platform
        else:
            copied = tree[folder / "slim-base" / "locks" / f"{platform.arch}.txt"].content.decode()
            assert copied == slim_lock
    slim_docker = tree[folder / "slim-base" / "Dockerfile"].content.decode()
    full_docker = tree[folder / "base" / "Dockerfile"].content.decode()
    assert "AIRFLOW__KUBERNETES_EXECUTOR__WORKER_PODS_CREATION_BATCH_SIZE" in full_docker
    assert "AIRFLOW__KUBERNETES_EXECUTOR__WORKER_PODS_CREATION_BATCH_SIZE" not in slim_docker
    assert 'image.title="Airflow Runtime (slim)"' in slim_docker
    onbuild = tree[folder / "slim" / "Dockerfile"].content.decode()
    assert f"ARG BASE_IMAGE=airflow-runtime:{release.version}-python-{release.python}-slim-base" in onbuild
    assert (folder / "slim" / layout.TEST_TOOLS) in tree
    older = committed_matrix.release("14.0.4")
    assert not [p for p in tree if str(p).startswith(f"distributions/{older.version}/") and "slim" in p.parts[-2]]


def test_measured_sizes_round_trip_and_show_the_slim_share(committed_matrix: Matrix, tmp_path) -> None:
    from runtime_builder.generate import image_sizes

    version = str(committed_matrix.default_release().version)
    path = tmp_path / "evidence" / "image-sizes.json"
    full = image_sizes.Size(version, "3.13", "base", "linux/amd64", 600_000_000, 200_000_000, "2026-11-30")
    slim = image_sizes.Size(version, "3.13", "slim-base", "linux/amd64", 300_000_000, 100_000_000, "2026-11-30")
    image_sizes.record(path, [full])
    image_sizes.record(path, [slim, full])
    assert image_sizes.load(path) == [full, slim]
    rows = image_sizes.rows(committed_matrix, image_sizes.load(path))
    assert [(r["variant"], r["share"]) for r in rows] == [("base", ""), ("slim-base", "50% of base")]
    gone = image_sizes.Size("99.0.0", "3.13", "base", "linux/amd64", 1, 1, "2026-11-30")
    assert image_sizes.rows(committed_matrix, [gone]) == [], "a release no longer in the matrix is not shown"


def test_a_sizes_file_that_is_not_one_is_refused_naming_it(tmp_path) -> None:
    from runtime_builder.errors import BuilderError
    from runtime_builder.generate import image_sizes

    path = tmp_path / "image-sizes.json"
    path.write_text('{"sizes": [{"version": "14.1.0"}]}')
    with pytest.raises(BuilderError, match=r"image-sizes\.json: not an image sizes file"):
        image_sizes.load(path)
    path.write_text('{"sizes": [{"version": "14.1.0", "python": "3.13", "variant": "base", "platform": "linux/amd64",'
                    ' "size": -1, "pull": 1, "measured_on": "2026-11-30"}]}')
    with pytest.raises(BuilderError, match="positive integers"):
        image_sizes.load(path)


def test_a_changed_slim_lock_touches_only_the_slim_cells(committed_matrix: Matrix) -> None:
    from runtime_builder.generate.touched import affected

    release = committed_matrix.default_release()
    path = str(layout.lock_file(str(release.version), release.python, "amd64", slim=True))
    touched = affected(committed_matrix, committed_matrix, [path])
    assert touched and all(s.variant.is_slim and s.python == release.python for s in touched)
    full = affected(committed_matrix, committed_matrix, [str(layout.lock_file(str(release.version), release.python,
                                                                               "amd64"))])
    assert {s.variant for s in full} == set(release.variants)
