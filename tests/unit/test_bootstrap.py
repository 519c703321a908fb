"""The offline bases: named and made like the official images they stand in for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime_builder.images import bootstrap
from tests.image import probe

REGISTRY = "127.0.0.1:5000"


def test_the_python_base_is_named_like_the_official_slim_image() -> None:
    image = bootstrap.BaseImage(REGISTRY, "trixie", "3.13")
    assert image.ref == f"{REGISTRY}/runtime-bases/python:3.13-slim-trixie"
    assert image.platform_ref("linux/arm64") == f"{REGISTRY}/runtime-bases/python:3.13-slim-trixie-arm64"


def test_the_python_base_leaves_out_what_debian_slim_leaves_out() -> None:
    options = bootstrap.BaseImage(REGISTRY, "bookworm", "3.11").mmdebstrap_options()
    assert "--variant=minbase" in options
    assert "--include=python3.11,python3.11-venv,ca-certificates,tini,tzdata,netbase,curl" in options
    for path in ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*"):
        assert f"--dpkgopt=path-exclude={path}" in options
    assert "--dpkgopt=path-include=/usr/share/doc/*/copyright" in options
    assert f"--customize-hook={bootstrap.SLIM_CLEAN_HOOK}" in options


def test_the_clean_hook_removes_what_maintainer_scripts_wrote(tmp_path: Path) -> None:
    """base-files' postinst writes its FAQ, install-info /usr/share/info/dir: dpkg's path-exclude
    never sees them. The hook (mmdebstrap runs it with the root as $1) removes them, keeping the
    copyright files and everything outside the excluded paths."""
    files = ["usr/share/doc/base-files/FAQ", "usr/share/doc/base-files/copyright", "usr/share/info/dir",
             "usr/share/locale/de/LC_MESSAGES/dpkg.mo", "usr/share/locale/locale.alias",
             "usr/share/man/man1/ls.1.gz", "usr/share/zoneinfo/UTC", "usr/lib/python3.13/os.py"]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "usr/share/doc/python3.13").mkdir()
    (tmp_path / "usr/share/doc/python3.13/changelog.gz").symlink_to("changelog.Debian.gz")
    subprocess.run(["sh", "-c", bootstrap.SLIM_CLEAN_HOOK, "hook", str(tmp_path)], check=True)
    left = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if not path.is_dir())
    assert left == ["usr/lib/python3.13/os.py", "usr/share/doc/base-files/copyright",
                    "usr/share/locale/locale.alias", "usr/share/zoneinfo/UTC"]


@pytest.mark.parametrize("image", [bootstrap.BaseImage(REGISTRY, "trixie", None),
                                   bootstrap.BaseImage(REGISTRY, "bookworm", None, "postgres")])
def test_the_other_bases_are_not_slimmed(image: bootstrap.BaseImage) -> None:
    assert not [option for option in image.mmdebstrap_options() if option.startswith(("--dpkgopt", "--customize"))]


@pytest.mark.parametrize(("path", "left_out"), [
    ("/usr/share/doc/tzdata/changelog.Debian.gz", True),
    ("/usr/share/doc/tzdata/copyright", False),
    ("/usr/share/man/man1/python3.13.1.gz", True),
    ("/usr/share/locale/de/LC_MESSAGES/dpkg.mo", True),
    ("/usr/share/locale/locale.alias", False),
    ("/usr/share/zoneinfo/Europe/Berlin", False),
    ("/usr/share/common-licenses/GPL-3", False),
])
def test_the_patterns_match_as_dpkg_reads_them(path: str, left_out: bool) -> None:
    """dpkg matches path-exclude/-include with fnmatch(3) without FNM_PATHNAME (`*` spans `/`);
    the image tests' probe reads them so (`probe.any_of`)."""
    excluded = probe.any_of(bootstrap.SLIM_EXCLUDED).match(path) is not None
    kept = probe.any_of(bootstrap.SLIM_KEPT).match(path) is not None
    assert (excluded and not kept) is left_out


def test_no_patterns_match_nothing() -> None:
    assert probe.any_of([]).match("/usr/share/doc/tzdata/changelog.Debian.gz") is None
    assert probe.any_of(None).match("") is None


def test_the_no_compile_stand_in_reads_every_name_py3compile_pipes_to_it(tmp_path: Path) -> None:
    """py3compile writes the names of the files to compile into `py_compile.py -`; a stand-in that
    exits without reading them leaves it a broken pipe (python3-minimal then fails to configure)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "chroot").write_text("#!/bin/sh\nexit 0\n")  # the dpkg-divert of the real hook
    (fake_bin / "chroot").chmod(0o755)
    root = tmp_path / "root"
    hook = bootstrap.NO_COMPILE_HOOK.format(py="3.13")
    subprocess.run(["sh", "-c", hook, "hook", str(root)], check=True,
                   env={"PATH": f"{fake_bin}:/usr/bin:/bin"})
    stand_in = root / "usr/lib/python3.13/py_compile.py"
    child = subprocess.Popen([sys.executable, str(stand_in), "-"], stdin=subprocess.PIPE)
    assert child.stdin is not None
    for number in range(20000):  # far more than a pipe holds: the writer blocks until it is read
        child.stdin.write(f"/usr/lib/python3.13/module_{number}.py\n".encode())
    child.stdin.close()
    assert child.wait(timeout=60) == 0


def test_the_service_images_stand_in_for_the_official_ones() -> None:
    """Named like the official images (the quick start's postgres and redis), with their entry
    point contract: the server by default, its programs on PATH."""
    postgres = bootstrap.BaseImage(REGISTRY, "bookworm", None, "postgres")
    assert postgres.ref == f"{REGISTRY}/runtime-bases/postgres:15-bookworm"
    redis = bootstrap.BaseImage(REGISTRY, "bookworm", None, "redis")
    assert redis.ref == f"{REGISTRY}/runtime-bases/redis:7.0-bookworm"
    dockerfile = bootstrap.service_dockerfile("postgres")
    assert 'ENTRYPOINT ["docker-entrypoint.sh"]' in dockerfile and 'CMD ["postgres"]' in dockerfile
    assert "ENV PATH=/usr/lib/postgresql/15/bin:" in dockerfile
    assert 'CMD ["redis-server"]' in bootstrap.service_dockerfile("redis")
    for name in bootstrap.SERVICES:
        assert (bootstrap.IN_IMAGE / f"{name}_entrypoint.sh").read_text().startswith("#!/usr/bin/env bash\n")
