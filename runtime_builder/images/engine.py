"""The one adapter over the Docker engine: every build, image, container, network and volume of the
package and its tests goes through `Engine` (as cibuildwheel's OCIContainer): builds, pushes and
one-shot runs with the docker client (`cli` for flags no method covers); the long-lived containers
of a deployment, their networks and volumes through the Docker SDK, one client per process.

Two drivers, same Dockerfiles:
- ``buildx``: ``docker buildx build --load`` where a buildx plugin exists (laptops, CI).
- ``embedded``: ``DOCKER_BUILDKIT=1 docker build`` with a Docker 20.10-22.x client, which
  talks to the engine's embedded BuildKit. Clients from 23 on refuse BuildKit without
  buildx ("buildx component is missing"), so they are not usable without the plugin.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
from docker.models.containers import Container

from .. import faults
from ..errors import BuildError, EngineError

# Debian's docker.io ships a 20.10 client here; it may sit behind a newer one on PATH.
DEBIAN_CLIENT = "/usr/bin/docker"
LAST_BUILDKIT_WITHOUT_BUILDX = 22
LOG_TAIL_LINES = 30
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Engine:
    client: str
    driver: str  # "buildx" or "embedded"

    @classmethod
    def detect(cls) -> Engine:
        """Pick the first client that can run BuildKit builds."""
        candidates = dict.fromkeys(c for c in (shutil.which("docker"), DEBIAN_CLIENT) if c)
        for client in candidates:
            if not Path(client).exists():
                continue
            if subprocess.run([client, "buildx", "version"], capture_output=True).returncode == 0:
                return cls(client, "buildx")
            if _client_major(client) <= LAST_BUILDKIT_WITHOUT_BUILDX:
                return cls(client, "embedded")
        raise EngineError(
            "no Docker client can run BuildKit builds: install the buildx plugin "
            "(docker-buildx-plugin) or, on Debian, `apt-get install docker.io` "
            f"(its {DEBIAN_CLIENT} 20.10 uses the engine's embedded BuildKit)"
        )

    # -- commands -------------------------------------------------------------------------

    def build(
        self,
        *,
        context: Path,
        tag: str,
        platform: str,
        build_args: Mapping[str, str],
        secrets: Mapping[str, Path],
        target: str | None = None,
        log_path: Path | None = None,
        dockerfile: Path | None = None,
    ) -> str:
        """Build ``context`` into ``tag`` for one platform and return the image id.

        ``dockerfile``: another Dockerfile than the context's own (it may live outside the context).
        """
        with tempfile.TemporaryDirectory(prefix="runtime-build-") as tmp:
            iidfile = Path(tmp) / "iid"
            argv = [*self._build_command(), "--progress=plain", "--platform", platform]
            argv += ["--tag", tag, "--iidfile", str(iidfile)]
            for name, value in build_args.items():
                argv += ["--build-arg", f"{name}={value}"]
            for secret_id, path in secrets.items():
                argv += ["--secret", f"id={secret_id},src={path}"]
            if target:
                argv += ["--target", target]
            if dockerfile:
                argv += ["--file", str(dockerfile)]
            argv.append(str(context))
            returncode, tail = _stream(argv, self._env(), log_path)
            if returncode != 0:
                where = f" (full log: {log_path})" if log_path else ""
                raise BuildError(f"build of {tag} failed{where}:\n" + "\n".join(tail))
            return iidfile.read_text().strip()

    def resolve(self, ref: str) -> str:
        """`ref` pinned by digest: `name@sha256:...` of what the tag names now (a list over its platforms).

        A base given by tag is resolved once, before building, and only the digest is used and
        recorded, so an image never silently follows a tag that moved.
        """
        if "@sha256:" in ref:
            return ref
        name = _repository(ref)
        if self.driver == "buildx":
            result = self._run(["buildx", "imagetools", "inspect", "--format", "{{.Manifest.Digest}}", ref],
                               check=False)
            digest = result.stdout.strip()
        else:
            pulled = self._run(["pull", "--quiet", ref], check=False)
            if pulled.returncode != 0:
                raise EngineError(f"cannot resolve {ref} to a digest: `docker pull` failed: {pulled.stderr.strip()}")
            digest = self.repo_digest(ref) or ""
        if not _DIGEST.fullmatch(digest):
            raise EngineError(f"cannot resolve {ref} to a digest (got {digest!r}); name the base by digest instead")
        return f"{name}@{digest}"

    def image_id(self, ref: str) -> str | None:
        result = self._run(["image", "inspect", "--format", "{{.Id}}", ref], check=False)
        return result.stdout.strip() if result.returncode == 0 else None

    def repo_digest(self, ref: str) -> str | None:
        """The registry digest recorded for ``ref``'s repository, if it was pushed/pulled."""
        result = self._run(["image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", ref],
                           check=False)
        repository = _repository(ref)
        for line in result.stdout.split():
            name, _, digest = line.partition("@")
            if name == repository:
                return digest
        return None

    def push(self, ref: str) -> str:
        """Push ``ref`` and return the manifest digest the registry stored."""
        output = self._run(["push", ref]).stdout
        faults.wrote(f"push {ref}")
        return _last_digest(output, ref)

    def oneshot(self, ref: str, command: Sequence[str], *, platform: str | None = None, entrypoint: str | None = None,
                input: str | None = None, network: str | None = None) -> subprocess.CompletedProcess[str]:
        """A throwaway container of `ref` run to its end: its exit status and output, whatever they are."""
        argv = ["run", "--rm", *(["-i"] if input is not None else [])]
        argv += [*(["--platform", platform] if platform else []), *(["--network", network] if network else [])]
        argv += [*(["--entrypoint", entrypoint] if entrypoint else []), ref, *command]
        return self.cli(argv, input=input)

    def cli(self, args: Sequence[str], *, input: str | None = None,
            timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """The docker client run with `args` as they are, for what no method covers (the tests'
        containers with flags of their own): its exit status and output, whatever they are."""
        return subprocess.run([self.client, *args], input=input, capture_output=True, text=True, env=self._env(),
                              timeout=timeout, check=False)

    # -- containers, networks and volumes (the Docker SDK) ------------------------------------

    def start(self, spec: ContainerSpec, files: bytes | None = None) -> str:
        """Create a container (pulling its image when only the registry has it, as `docker run`
        does), put `files` (a tar, at /) into it before it starts, start it; its name."""
        api = _api()
        options = dict(name=spec.name, hostname=spec.hostname, user=spec.user, environment=dict(spec.environment),
                       labels=dict(spec.labels), ports=dict(spec.ports), entrypoint=spec.entrypoint,
                       volumes={name: {"bind": path, "mode": "rw"} for name, path in spec.volumes.items()}
                       | {host: {"bind": path, "mode": "ro"} for host, path in spec.binds.items()})
        if spec.network:
            options |= {"network": spec.network, "networking_config": {
                spec.network: docker.types.EndpointConfig(api.api.api_version, aliases=list(spec.aliases))}}
        try:
            try:
                container = api.containers.create(spec.image, list(spec.command), **options)
            except docker.errors.ImageNotFound:
                api.images.pull(spec.image)
                container = api.containers.create(spec.image, list(spec.command), **options)
            if files:
                container.put_archive("/", files)
            container.start()
        except docker.errors.DockerException as error:
            raise EngineError(f"cannot start {spec.name} from {spec.image}: {error}") from error
        return spec.name

    def exec(self, name: str, argv: Sequence[str], environment: Mapping[str, str] | None = None,
             user: str | None = None, stdout_only: bool = False) -> tuple[int, str]:
        """Run a command in a running container; (exit status, its stdout and stderr, or stdout only)."""
        result = self._container(name).exec_run(list(argv), environment=dict(environment or {}), user=user or "",
                                                 demux=stdout_only)
        output = (result.output[0] if stdout_only else result.output) or b""
        return result.exit_code, output.decode(errors="replace")

    def logs(self, name: str, lines: int | None = None) -> str:
        try:
            return self._container(name).logs(**({"tail": lines} if lines else {})).decode(errors="replace")
        except EngineError:
            return "(no container)"

    def wait(self, name: str, timeout: float) -> int:
        """The container's exit status once it ends; EngineError when it runs longer than `timeout`."""
        try:
            return int(self._container(name).wait(timeout=timeout).get("StatusCode", -1))
        except Exception as error:  # requests' ReadTimeout: the SDK does not wrap it
            raise EngineError(f"{name} did not end within {timeout:.0f} s") from error

    def state(self, name: str) -> tuple[str, int | None]:
        """(status, exit code): `running`, `exited`, ... ; ("gone", None) for a container that is not there."""
        try:
            container = self._container(name)
        except EngineError:
            return "gone", None
        return container.status, container.attrs.get("State", {}).get("ExitCode")

    def started_at(self, name: str) -> str:  # when a container last started: RFC 3339, UTC
        return str(self._container(name).attrs.get("State", {}).get("StartedAt", ""))

    def host_port(self, name: str, port: int) -> int | None:
        """The host port a container's `port` is published on."""
        bound = (self._container(name).attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
        return int(bound[0]["HostPort"]) if bound else None

    def remove(self, name: str) -> None:
        """Remove a container and its anonymous volumes (nothing when it is gone)."""
        with contextlib.suppress(EngineError, docker.errors.NotFound):
            self._container(name).remove(force=True, v=True)

    def stop(self, name: str, timeout: float = 30.0) -> None:
        """Stop a running container (SIGTERM, then SIGKILL after `timeout` s); it stays, with its state."""
        with contextlib.suppress(docker.errors.NotFound):
            self._container(name).stop(timeout=int(timeout))

    def resume(self, name: str) -> None:
        """Start a stopped container again, as it was created."""
        try:
            self._container(name).start()
        except docker.errors.DockerException as error:
            raise EngineError(f"cannot start {name} again: {error}") from error

    def container_facts(self, name: str) -> tuple[str, str, dict[str, str]]:
        """(image reference it was created from, image id, labels) of a container."""
        attrs = self._container(name).attrs
        return attrs["Config"]["Image"], attrs["Image"], dict(attrs["Config"].get("Labels") or {})

    def follow(self, name: str, lines: int | None = None) -> Iterator[str]:
        """A container's log as it grows, line by line, from its last `lines` (all: None) until it stops."""
        stream = self._container(name).logs(stream=True, follow=True, tail=lines if lines is not None else "all")
        pending = b""
        for chunk in stream:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode(errors="replace")
        if pending:
            yield pending.decode(errors="replace")

    def interactive(self, name: str, argv: Sequence[str]) -> int:
        """Run a command in a running container attached to this terminal (a TTY when there is one),
        as `docker exec -it` does; its exit status."""
        flags = ["-i", *(["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else [])]
        return subprocess.run([self.client, "exec", *flags, name, *argv], env=self._env(), check=False).returncode

    def copy(self, source: str, path: str, target: str, folder: str) -> None:
        """Copy a file or folder of one container into a folder of another (`docker cp` twice)."""
        stream, _ = self._container(source).get_archive(path)
        self._container(target).put_archive(folder, b"".join(stream))

    def create_network(self, name: str, labels: Mapping[str, str]) -> str:
        return _api().networks.create(name, driver="bridge", labels=dict(labels)).name

    def create_volume(self, name: str, labels: Mapping[str, str]) -> str:
        return _api().volumes.create(name, labels=dict(labels)).name

    def labelled(self, labels: Sequence[str]) -> list[Labelled]:
        """The containers, volumes and networks carrying every `key=value` (or `key`) of `labels`."""
        api, selector = _api(), {"label": list(labels)}
        return ([Labelled("container", c.name, c.labels) for c in api.containers.list(all=True, filters=selector)]
                + [Labelled("volume", v.name, v.attrs.get("Labels") or {}) for v in api.volumes.list(filters=selector)]
                + [Labelled("network", n.name, n.attrs.get("Labels") or {})
                   for n in api.networks.list(filters=selector)])

    def remove_labelled(self, labels: Sequence[str]) -> list[Labelled]:
        """Remove what carries `labels` (containers first, then volumes and networks); what it removed."""
        api, found = _api(), self.labelled(labels)
        for part in found:
            with contextlib.suppress(docker.errors.NotFound):
                if part.kind == "container":
                    api.containers.get(part.name).remove(force=True, v=True)
                elif part.kind == "volume":
                    api.volumes.get(part.name).remove(force=True)
                else:
                    api.networks.get(part.name).remove()
        return found

    def image_facts(self, ref: str) -> tuple[dict[str, str], str] | None:
        """(labels, architecture) of a local image; None when there is none."""
        try:
            found = _api().images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        return dict(found.labels or {}), found.attrs.get("Architecture") or ""

    def _container(self, name: str) -> Container:
        try:
            return _api().containers.get(name)
        except docker.errors.NotFound as error:
            raise EngineError(f"no container {name}") from error

    def inspect_image(self, ref: str) -> dict[str, Any] | None:
        """The engine's whole record of a local image (`docker image inspect`); None when there is none."""
        try:
            return dict(_api().images.get(ref).attrs)
        except docker.errors.ImageNotFound:
            return None

    def image_size(self, ref: str) -> int:
        """The image's size as the engine reports it (uncompressed bytes), pulled first when the
        engine does not have it (a base a build used by digest is not kept under its tag)."""
        found = self.inspect_image(ref)
        if found is None:
            self._run(["pull", ref])
            found = self.inspect_image(ref)
        if found is None:
            raise EngineError(f"no image {ref}, even after pulling it")
        return int(found["Size"])

    def prune_build_cache(self) -> None:
        """Empty the builder's cache (for cold-build measurements)."""
        self._run(["builder", "prune", "-af"])

    def image_tags(self, prefix: str) -> list[str]:
        """The local image references (repository:tag) that start with `prefix`."""
        return sorted(tag for image in _api().images.list() for tag in image.tags if tag.startswith(prefix))

    def tag(self, src: str, dst: str) -> None:
        self._run(["tag", src, dst])

    def remove_image(self, ref: str) -> None:
        # Removing what is already gone is not an error for a cleanup step.
        self._run(["image", "rm", ref], check=False)

    def manifest_push(self, ref: str, images: Sequence[str], *, insecure: bool) -> str:
        """Publish a manifest list ``ref`` over per-platform ``images``; return its digest."""
        flag = ["--insecure"] if insecure else []
        # --amend: the client keeps a local copy of every list it created; replace it.
        self._run(["manifest", "create", *flag, "--amend", ref, *images])
        output = self._run(["manifest", "push", *flag, "--purge", ref]).stdout
        faults.wrote(f"manifest push {ref}")
        return _last_digest(output, ref)

    def info(self) -> bool:  # True when the engine answers
        return self.cli(["info"]).returncode == 0

    # -- helpers --------------------------------------------------------------------------

    def _build_command(self) -> list[str]:
        if self.driver == "buildx":
            return [self.client, "buildx", "build", "--load"]
        return [self.client, "build"]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.driver == "embedded":
            env["DOCKER_BUILDKIT"] = "1"
        return env

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.cli(args)
        if check and result.returncode != 0:
            raise EngineError(f"{self.client} {' '.join(args)} failed: {result.stderr.strip()}")
        return result


@dataclass(frozen=True)
class ContainerSpec:
    """A container to start: what `Engine.start` creates."""

    image: str
    command: tuple[str, ...]
    name: str
    hostname: str | None = None
    user: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[str, str] = field(default_factory=dict)  # volume name -> path in the container
    binds: Mapping[str, str] = field(default_factory=dict)  # host folder -> path in the container, read-only
    ports: Mapping[str, tuple[str, int | None]] = field(default_factory=dict)  # "8080/tcp" -> (host address, port)
    network: str | None = None
    aliases: tuple[str, ...] = ()  # names on the network
    entrypoint: str | None = None


@dataclass(frozen=True)
class Labelled:
    kind: str  # container, volume, network
    name: str
    labels: Mapping[str, str]


@functools.cache
def _api() -> docker.DockerClient:
    """The Docker SDK's client, once per process (the engine the docker client talks to)."""
    try:
        found = docker.from_env()
        found.ping()
    except docker.errors.DockerException as error:
        raise EngineError(f"no Docker engine answers: {error}; `python3 build.py setup` starts one") from error
    return found


def _client_major(client: str) -> int:
    result = subprocess.run([client, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True)
    # The client prints its own version even when no daemon answers (exit code 1).
    match = re.match(r"(\d+)\.", result.stdout.strip())
    return int(match.group(1)) if match else 10**6


def _stream(argv: list[str], env: Mapping[str, str], log_path: Path | None) -> tuple[int, list[str]]:
    """Run ``argv``, copy its output to ``log_path``, keep the last lines for errors."""
    tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
    log = log_path.open("w") if log_path else None
    try:
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as process:
            assert process.stdout is not None
            for line in process.stdout:
                tail.append(line.rstrip("\n"))
                if log:
                    log.write(line)
                    log.flush()
        return process.returncode, list(tail)
    finally:
        if log:
            log.close()


def _repository(ref: str) -> str:
    """``host:5000/a/b:tag`` -> ``host:5000/a/b`` (a port colon is not a tag)."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def _last_digest(output: str, ref: str) -> str:
    digests = _DIGEST.findall(output)
    if not digests:
        raise EngineError(f"pushing {ref} printed no digest:\n{output}")
    return digests[-1]
