"""Publishing that survives faults, against a real registry.

- A publish killed (SIGKILL: no cleanup) right after its k-th registry write, for the fault
  points chosen (`--fault-points`: `sample` in CI, `all` in the nightly): after each, every tag
  names the old image or the new one, never a missing or partial manifest list, and a re-run
  completes with exactly the digests of an undisturbed publish.
- The registry restarted while a publish pushes: the same holds.
- Two publishes of one version at once: one waits for the other; the tags are the same.

Each fault point gets its own repository (the same images; blobs are shared in the registry's
storage), seeded with an "older release" under the floating tags, so "old" is never empty. The
number of fault points tried is printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from runtime_builder.faults import VARIABLE
from runtime_builder.images.engine import Engine
from runtime_builder.matrix.load import load_matrix
from runtime_builder.publish.registry import Registry, Target
from runtime_builder.publish.runs import lock_path

from .conftest import RegistryProcess
from .support import HOOK, ROOT, tags_of
from .test_publish_e2e import VERSION, seed_previous_release, snapshot

pytestmark = [pytest.mark.image, pytest.mark.registry, pytest.mark.slow]

LOCAL_REPOSITORY = "airflow-runtime-faults"
# One platform keeps each run short; the order of writes is the same for two.
PLATFORM = "linux/amd64"
SAMPLE = (1, 2, 3, 5, 8, 13, 21, 34)  # CI: early writes (pushes, evidence), tag writes, the feed


def publish(registry: str, repository: str, kill_after: int | None = None,
            wait: bool = True) -> subprocess.CompletedProcess[str] | subprocess.Popen[str]:
    argv = [sys.executable, "build.py", "--repository", LOCAL_REPOSITORY, "publish", VERSION, "--default-python",
            "--platform", PLATFORM, "--registry", f"{registry}/{repository}",
            "--test-command", f"{sys.executable} {HOOK} --image {{image}}"]
    env = {name: value for name, value in os.environ.items() if name != VARIABLE}
    if kill_after:
        env[VARIABLE] = str(kill_after)
    if not wait:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def held_by_first(path: Path, process: subprocess.Popen[str], timeout: float = 120) -> None:
    """Wait until `process` holds the publish lock `path`: the holder writes its pid into it once it
    has the lock (reading it takes no lock, so the first publish never sees a third party)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the first publish ended before it was seen holding {path}"
        if path.exists() and path.read_text().strip() == f"pid {process.pid}":
            return
        time.sleep(0.05)
    raise AssertionError(f"the first publish did not take {path} within {timeout:.0f}s")


def fresh(registry: str, engine: Engine, tmp_path: Path, floating: list[str]) -> tuple[Registry, str]:
    """A new repository whose floating tags name an older release; (its registry, that digest)."""
    remote = Registry(Target.parse(f"{registry}/faults-{uuid.uuid4().hex[:8]}", "x"))
    workdir = tmp_path / remote.target.repository
    workdir.mkdir(parents=True)
    return remote, seed_previous_release(remote, engine, workdir, floating)


def problems(remote: Registry, wanted: list[str], old: dict[str, str | None], new: dict[str, str]) -> list[str]:
    """Every tag names its old or its new digest, and every list it names is complete."""
    found = []
    for tag, digest in snapshot(remote, wanted).items():
        if digest not in (old.get(tag), new[tag]):
            found.append(f"{tag} names {digest}: neither the old {old.get(tag)} nor the new {new[tag]}")
        elif digest == new[tag]:
            manifest = remote.manifest(tag)
            assert manifest is not None
            for entry in manifest.json().get("manifests", []):
                if remote.manifest(entry["digest"]) is None:
                    found.append(f"{tag} names a list whose {entry['platform']} manifest {entry['digest']} is missing")
    return found


@pytest.fixture(scope="module")
def setting(registry: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tags, and the digests an undisturbed publish gives them."""
    engine = Engine.detect()
    # What the publish below publishes: every variant of the release (its slim images too).
    release = load_matrix(ROOT / "versions.yaml").release(VERSION)
    tags = tags_of(VERSION, release.python, release.variants)
    floating = [t for t in tags if not t.startswith(VERSION)]
    remote, _ = fresh(registry, engine, tmp_path_factory.mktemp("reference"), floating)
    done = publish(registry, remote.target.repository)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    new = snapshot(remote, list(tags))
    assert all(new.values()), new
    return {"engine": engine, "wanted": list(tags), "floating": floating, "new": new}


def test_a_publish_killed_after_any_write_leaves_old_or_new_tags(registry: str, setting: dict, tmp_path: Path,
                                                                 request: pytest.FixtureRequest) -> None:
    every = request.config.getoption("--fault-points") == "all"
    tried, point = [], 0
    while True:
        point += 1
        if not every and point not in SAMPLE:
            if point > max(SAMPLE):
                break
            continue
        remote, previous = fresh(registry, setting["engine"], tmp_path, setting["floating"])
        old = {tag: (previous if tag in setting["floating"] else None) for tag in setting["wanted"]}
        killed = publish(registry, remote.target.repository, kill_after=point)
        if killed.returncode == 0:  # fewer writes than `point`: every fault point was tried
            break
        assert killed.returncode == -9, f"fault point {point}: {killed.stdout[-2000:]}{killed.stderr[-2000:]}"
        assert "fault injection: killed after write" in killed.stderr
        assert problems(remote, setting["wanted"], old, setting["new"]) == [], f"after a kill at write {point}"
        again = publish(registry, remote.target.repository)
        assert again.returncode == 0, f"re-run after write {point}: {again.stderr[-3000:]}"
        assert snapshot(remote, setting["wanted"]) == setting["new"], f"re-run after write {point}"
        tried.append(point)
    print(f"fault points tried: {len(tried)} ({'all' if every else 'a sample'}): {tried}")
    assert len(tried) >= (len(SAMPLE) if not every else 20), tried


def test_a_registry_restart_during_the_push_leaves_old_or_new_tags(registry_process: RegistryProcess,
                                                                   setting: dict, tmp_path: Path) -> None:
    remote, previous = fresh(registry_process.addr, setting["engine"], tmp_path, setting["floating"])
    old = {tag: (previous if tag in setting["floating"] else None) for tag in setting["wanted"]}
    running = publish(registry_process.addr, remote.target.repository, wait=False)
    assert running.stdout is not None
    seen = []
    for line in running.stdout:  # restart as the first platform image goes up
        seen.append(line)
        if line.startswith("==> push "):
            time.sleep(1)
            registry_process.stop(kill=True)
            registry_process.start()
            break
    output = "".join(seen) + running.communicate(timeout=900)[0]
    assert problems(remote, setting["wanted"], old, setting["new"]) == [], output[-3000:]
    again = publish(registry_process.addr, remote.target.repository)
    assert again.returncode == 0, again.stderr[-3000:]
    assert snapshot(remote, setting["wanted"]) == setting["new"]


def test_two_publishes_at_once_one_waits(registry: str, setting: dict, tmp_path: Path) -> None:
    remote, _ = fresh(registry, setting["engine"], tmp_path, setting["floating"])
    first = publish(registry, remote.target.repository, wait=False)
    held_by_first(lock_path(ROOT, remote.target), first)  # the second starts while the first holds the lock
    second = publish(registry, remote.target.repository, wait=False)
    outputs = [process.communicate(timeout=900)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    assert sum("waiting for it" in output for output in outputs) == 1, "one of the two waits for the other"
    assert snapshot(remote, setting["wanted"]) == setting["new"]

