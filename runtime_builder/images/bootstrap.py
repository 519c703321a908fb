"""Base images made from Debian's packages, for hosts that can pull from no registry.

For each suite: a Debian image (``debian:<suite>``) and a Python image with the
interpreter Debian packages for that suite, each built per platform from an mmdebstrap
root file system (``FROM scratch`` / ``ADD rootfs.tar /``, the way Debian's official images
are made) and published to the local registry as one multi-platform manifest list.

The Python image stands in for the official ``python:<X.Y>-slim-<suite>``, which starts from
``debian:<suite>-slim``: it is made slim the same way (``SLIM_DPKG_OPTIONS``, the paths
debuerreotype's slimify leaves out), so an image built here has the floor it has on the
internet, not 44 MB (trixie, amd64) of manuals, documentation and message catalogues more.

Speed: installing python3.X under QEMU spends minutes byte-compiling the standard library.
Byte-code depends on the Python minor version, not on the CPU, so the foreign root file
system is installed with compilation switched off and then compiled by the native image of
the same suite (see ``NO_COMPILE_HOOK`` and ``COMPILE_HOOK``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BootstrapError, UsageError
from ..layout import is_loopback
from ..matrix.model import Matrix, Platform
from . import trusted_bases
from .engine import Engine

NAMESPACE = "runtime-bases"
ROOTFS_DOCKERFILE = 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n'
MANIFEST_LIST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def python_packages(python: str) -> list[str]:
    """What every stage of a runtime image needs from Debian, beyond minbase."""
    return [
        f"python{python}",
        f"python{python}-venv",  # ensurepip: the builder stage makes a venv for uv
        "ca-certificates",
        "tini",  # the images' init process
        "tzdata",  # zoneinfo, for DAG schedules in local time zones
        "netbase",  # /etc/services and /etc/protocols, read by socket-level libraries
        # The official Airflow image's programs (contract.OFFICIAL_PROGRAMS) that images of the
        # airflow-image-contract change install where the base lacks them: here the base has them, and
        # an arm64 image's build runs no apt under emulation for them.
        "curl",
    ]


# What Debian's slim images leave out (debuerreotype's `.slimify-excludes` and `-includes`):
# manuals, documentation but the copyright files, message catalogues. Given to mmdebstrap as
# dpkg options, they apply while the root file system is made and stay in
# /etc/dpkg/dpkg.cfg.d/, so a project's `apt-get install` leaves them out too, as on the
# official images.
SLIM_EXCLUDED = ("/usr/share/doc/*", "/usr/share/groff/*", "/usr/share/info/*", "/usr/share/linda/*",
                 "/usr/share/lintian/overrides/*", "/usr/share/locale/*", "/usr/share/man/*")
SLIM_KEPT = ("/usr/share/doc/*/copyright", "/usr/share/locale/locale.alias")
SLIM_DPKG_OPTIONS = tuple([f"path-exclude={path}" for path in SLIM_EXCLUDED]
                          + [f"path-include={path}" for path in SLIM_KEPT])
# What maintainer scripts write there all the same (base-files' FAQ, install-info's
# /usr/share/info/dir, ...) goes once everything is installed, as debuerreotype's slimify
# removes it: find's -path matches as dpkg's patterns do (`*` spans `/`).
SLIM_CLEAN_HOOK = (
    'cd "$1" && find ./usr/share ! -type d \\( '
    + " -o ".join(f"-path '.{path}'" for path in SLIM_EXCLUDED)
    + " \\) ! \\( "
    + " -o ".join(f"-path '.{path}'" for path in SLIM_KEPT)
    + " \\) -delete"
)


# Runs inside the chroot under QEMU before python3.X is unpacked: park the script the
# postinst scripts call to byte-compile, and leave a no-op in its place. py3compile pipes the
# file names into `py_compile.py -`: the no-op reads them all, or py3compile may write to a
# pipe nobody reads (BrokenPipeError, and python3-minimal fails to configure).
NO_COMPILE_HOOK = """\
set -e
chroot "$1" dpkg-divert --quiet --local --rename \
    --divert /usr/lib/python{py}/py_compile.py.real --add /usr/lib/python{py}/py_compile.py
mkdir -p "$1/usr/lib/python{py}"
printf '%s\\n' 'import sys  # runtime-bootstrap: compiled natively after install' \
    'if "-" in sys.argv[1:]: sys.stdin.buffer.read()' 'raise SystemExit(0)' \
    > "$1/usr/lib/python{py}/py_compile.py"
"""

# Runs after all packages are installed: put the real py_compile back, then compile the
# files the postinst scripts would have compiled, with the native interpreter of the same
# Python version, recording the in-image path in each .pyc as Debian's postinst does.
COMPILE_HOOK = """\
set -e
rm "$1/usr/lib/python{py}/py_compile.py"
chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/lib/python{py}/py_compile.py
cat "$1"/var/lib/dpkg/info/*.list | grep -E '^/usr/lib/python{py}/.*[.]py$' | sort -u \
  | {client} run --rm -i --network none --platform {native} -v "$1:/target" {compiler} \
      python{py} -E -S -c '{script}'
"""
COMPILE_SCRIPT = (
    "import py_compile, sys\n"
    "for path in sys.stdin.read().split():\n"
    '    py_compile.compile("/target" + path, dfile=path, doraise=True)\n'
)


@dataclass(frozen=True)
class Service:
    """A service a deployment runs beside the Runtime images (see runtime_builder.deploy), made from
    Debian's own packages like the bases, standing in for its official image of the same name and
    tag (`postgres:15-bookworm`): the same entry point contract (in_image/<name>_entrypoint.sh),
    so Airflow's docker-compose quick start and the deployments run either."""

    packages: tuple[str, ...]
    version: str  # what the suite ships, the official image's tag starts with it
    command: str  # the image's CMD: its server
    path: str = ""  # a folder of the service's programs put first on PATH (not on Debian's own PATH)


SERVICES = {
    # Debian 12's PostgreSQL 15 and Redis 7.0 (services.SUITE): the metadata database, the Celery broker.
    "postgres": Service(("postgresql",), "15", "postgres", "/usr/lib/postgresql/15/bin"),
    "redis": Service(("redis-server",), "7.0", "redis-server"),
}
IN_IMAGE = Path(__file__).resolve().parents[1] / "in_image"


def service_dockerfile(name: str) -> str:
    """The Dockerfile of a service's image: the root file system, its entry point, its PATH. Pure."""
    service = SERVICES[name]
    lines = ["FROM scratch", "ADD rootfs.tar /", "COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh"]
    if service.path:
        lines.append(f"ENV PATH={service.path}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    lines += ['ENTRYPOINT ["docker-entrypoint.sh"]', f'CMD ["{service.command}"]']
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class BaseImage:
    """One base of one suite: ``debian:trixie``, ``python:3.13-slim-trixie``, a service's ``postgres:15-bookworm``."""

    registry: str
    suite: str
    python: str | None  # None for the plain Debian image and the services
    service: str | None = None  # a key of SERVICES

    @property
    def ref(self) -> str:
        if self.service:
            name, tag = self.service, f"{SERVICES[self.service].version}-{self.suite}"  # the official image's name
        elif self.python:
            name, tag = "python", f"{self.python}-slim-{self.suite}"  # the official image's name
        else:
            name, tag = "debian", self.suite
        return f"{self.registry}/{NAMESPACE}/{name}:{tag}"

    def platform_ref(self, platform: str) -> str:
        return f"{self.ref}-{_arch(platform)}"

    def packages(self) -> list[str]:
        if self.service:
            return list(SERVICES[self.service].packages)
        return python_packages(self.python) if self.python else []

    def dpkg_options(self) -> tuple[str, ...]:
        """The Python bases are slim like the official images they stand in for; the others are not."""
        return SLIM_DPKG_OPTIONS if self.python else ()

    def mmdebstrap_options(self) -> list[str]:
        """mmdebstrap's options for this image's root file system but the architecture and the
        compile hooks (`_native_compile_hooks`): variant, packages, slimming. Pure."""
        argv = ["--variant=minbase", "--quiet"]
        if self.packages():
            argv.append(f"--include={','.join(self.packages())}")
        if self.dpkg_options():
            argv += [f"--dpkgopt={option}" for option in self.dpkg_options()]
            argv.append(f"--customize-hook={SLIM_CLEAN_HOOK}")
        return argv


def bootstrap(
    *,
    suites: Mapping[str, str],
    platforms: list[str],
    registry: str,
    engine: Engine,
    workdir: Path,
    force: bool = False,
    debian: bool = True,
) -> dict[str, str]:
    """Build and publish missing base images; return image reference -> manifest digest.

    ``debian=False`` makes only the Python bases, which are all an image build needs.
    """
    native = Platform.native().value
    # The native image must exist before a foreign one can borrow its interpreter.
    ordered = sorted(platforms, key=lambda p: p != native)
    digests: dict[str, str] = {}
    for suite, python in suites.items():
        images = [BaseImage(registry, suite, None)] if debian else []
        for image in [*images, BaseImage(registry, suite, python)]:
            digests[image.ref] = _ensure_image(image, ordered, engine, workdir, force=force)
    return digests


def suites_of(matrix: Matrix, asked: Sequence[str] = ()) -> dict[str, str]:
    """Suite -> its Python, for the suites the matrix uses (or those asked, which it must use)."""
    suites = {r.suite.name: r.suite.python for r in matrix.releases}
    unknown = sorted(set(asked) - set(suites))
    if unknown:
        raise UsageError(f"--suite {', '.join(unknown)}: versions.yaml uses only {', '.join(sorted(suites))}")
    return {name: suites[name] for name in asked} if asked else suites


def services(*, suite: str, registry: str, engine: Engine, workdir: Path) -> dict[str, str]:
    """The service images for the build host's platform (deployments run natively): name -> reference by digest."""
    found = {}
    for service in sorted(SERVICES):
        image = BaseImage(registry, suite, None, service)
        digest = _ensure_image(image, [Platform.native().value], engine, workdir, force=False)
        found[service] = f"{image.ref}@{digest}"
    return found


def _ensure_image(image: BaseImage, platforms: list[str], engine: Engine, workdir: Path, *, force: bool) -> str:
    """Make the platforms missing from ``image``'s list and publish the list over all of them.

    A list is only ever widened: making arm64 later keeps the amd64 image already listed
    (every build needs the build host's platform too, for its builder stage).
    """
    existing = _published(image.registry, image.ref)
    if existing and not force:
        trusted_bases.check(image.ref, existing[0])
    listed = existing[1] if existing else set()
    if existing and not force and set(platforms) <= listed:
        trusted_bases.record(image.ref, existing[0])  # a base made before the record was kept: from now on
        return existing[0]
    todo = platforms if force else [p for p in platforms if p not in listed]
    for platform in todo:
        context = workdir / image.ref.rsplit("/", 1)[-1].replace(":", "-") / _arch(platform)
        _make_rootfs(image, platform, context, engine)
        ref = image.platform_ref(platform)
        started = time.monotonic()
        engine.build(
            context=context,
            tag=ref,
            platform=platform,
            build_args={},
            secrets={},
            log_path=context / "build.log",
        )
        engine.push(ref)
        print(f"built and pushed {ref} in {time.monotonic() - started:.0f} s")
    every = sorted(listed | set(platforms))
    # --insecure (plain HTTP) for the build host's own registry only, as publishing decides.
    digest = engine.manifest_push(image.ref, [image.platform_ref(p) for p in every],
                                  insecure=is_loopback(image.registry))
    print(f"published {image.ref}@{digest} ({', '.join(every)})")
    trusted_bases.record(image.ref, digest)
    return digest


def _make_rootfs(image: BaseImage, platform: str, context: Path, engine: Engine) -> None:
    context.mkdir(parents=True, exist_ok=True)
    arch = _arch(platform)
    argv = ["mmdebstrap", f"--architectures={arch}", *image.mmdebstrap_options()]
    if image.python and platform != Platform.native().value:
        argv += _native_compile_hooks(image, engine)
    argv += [image.suite, str(context / "rootfs.tar")]
    if image.service:
        (context / "Dockerfile").write_text(service_dockerfile(image.service))
        entrypoint = context / "docker-entrypoint.sh"
        entrypoint.write_text((IN_IMAGE / f"{image.service}_entrypoint.sh").read_text())
        entrypoint.chmod(0o755)
    else:
        (context / "Dockerfile").write_text(ROOTFS_DOCKERFILE)
    started = time.monotonic()
    if shutil.which("mmdebstrap") is None:
        flag = f" --platform {platform}" if platform != Platform.native().value else ""
        raise BootstrapError(f"{image.ref} is not in the local registry and making it needs mmdebstrap: run "
                             f"`python3 build.py setup{flag}`")
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise BootstrapError(f"mmdebstrap for {image.ref} {arch} failed:\n{result.stderr[-3000:]}")
    print(f"made {arch} root file system for {image.ref} in {time.monotonic() - started:.0f} s")


def _native_compile_hooks(image: BaseImage, engine: Engine) -> list[str]:
    assert image.python
    native = Platform.native().value
    compiler = image.platform_ref(native)
    if engine.image_id(compiler) is None:
        # No native interpreter of this version here: let QEMU compile, slowly but right.
        return []
    values = {"py": image.python, "client": engine.client, "native": native}
    no_compile = NO_COMPILE_HOOK.format(**values)
    compile_ = COMPILE_HOOK.format(**values, compiler=compiler, script=COMPILE_SCRIPT)
    return [f"--essential-hook={no_compile}", f"--customize-hook={compile_}"]


def _published(registry: str, ref: str) -> tuple[str, set[str]] | None:
    """(digest, platforms) of the manifest list ``ref`` in the registry, if there is one.

    Plain HTTP for a loopback registry only (`layout.is_loopback`), HTTPS anywhere else.
    """
    repository, tag = ref.removeprefix(f"{registry}/").rsplit(":", 1)
    scheme = "http" if is_loopback(registry) else "https"
    request = urllib.request.Request(
        f"{scheme}://{registry}/v2/{repository}/manifests/{tag}",
        headers={"Accept": MANIFEST_LIST_TYPES},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            digest = response.headers["Docker-Content-Digest"]
            manifest = json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
    platforms = {f"{m['platform']['os']}/{m['platform']['architecture']}" for m in manifest.get("manifests", [])}
    return digest, platforms


def _arch(platform: str) -> str:
    """``linux/arm64`` -> ``arm64`` (Debian and Docker use the same names for these)."""
    return Platform.parse(platform).arch
