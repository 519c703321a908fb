"""Byte-code: an image that ships it imports Airflow from it; a slim image from `slim-no-bytecode`
on ships none, and Python keeps what it compiles under PYTHONPYCACHEPREFIX, where a container's
later processes read it: under any uid in group 0 with a read-only root and /tmp mounted too,
where the release runs so (`hardened`). (A project built on such an image adds none either:
test_onbuild.py.)"""

from __future__ import annotations

import re
import uuid

import pytest

from runtime_builder import contract

from . import checks
from .support import Docker, Prober, Target, require_native

pytestmark = pytest.mark.image

# One container, two processes importing Airflow: the byte-code files the venv holds, then where
# the second process took Airflow's code from (`python -v` names the file of each code object).
SCRIPT = (f'echo "byte-code files: $(find {checks.VENV} -name "*.pyc" | wc -l)"; '
          'python -c "import airflow" '
          '&& python -v -c "import airflow" 2>&1 | grep -E "code object from .*/airflow/(__pycache__/)?__init__\\."')
CODE_FROM = re.compile(r"code object from '?([^'\s]+)")  # quoted when read from byte-code


def site_packages(target: Target) -> str:
    return f"{checks.VENV}/lib/python{target.expected.python}/site-packages"


def test_airflow_is_imported_from_byte_code(target: Target, docker: Docker, prober: Prober) -> None:
    locked_down = contract.Change.HARDENED.value in target.expected.changes
    options = ("--read-only", "--tmpfs", "/tmp", "--user", contract.ARBITRARY_USER) if locked_down else ()
    result = prober.once(target, "byte-code", lambda image: docker.oneshot(
        image.ref, image.platform, "bash", "-c", SCRIPT, options=options, timeout=600))
    assert result.returncode == 0, result.output[-3000:]
    count = int(re.search(r"byte-code files: (\d+)", result.stdout)[1])
    source = CODE_FROM.search(result.stdout)
    assert source, f"python -v named no file for Airflow's code:\n{result.output[-3000:]}"
    tag = f"cpython-{target.expected.python.replace('.', '')}"
    if target.expected.bytecode:
        assert count > 0, "the image ships no byte-code"
        assert source[1] == f"{site_packages(target)}/airflow/__pycache__/__init__.{tag}.pyc", source[1]
    else:
        assert count == 0, f"the image ships {count} byte-code files in its venv"
        if target.expected.has(contract.Change.PYCACHE_PER_UID):  # a folder of the uid's own
            assert target.expected.environment.get(contract.PYCACHE_PREFIX_VARIABLE) == contract.PYCACHE_PREFIX
            uid = int((contract.ARBITRARY_USER if locked_down else str(contract.UID)).split(":")[0])
            prefix = f"{contract.PYCACHE_PREFIX}-{uid}"
        else:
            assert target.expected.environment.get("PYTHONPYCACHEPREFIX") == contract.PYCACHE_PREFIX
            prefix = contract.PYCACHE_PREFIX
        # The first process compiled Airflow there; the second read it (not compiled again).
        assert source[1] == f"{prefix}{site_packages(target)}/airflow/__init__.{tag}.pyc", \
            f"Airflow's code came from {source[1]}, not from the byte-code the first process left" \
            f"{' (read-only root, any uid)' if locked_down else ''}"


# Run as the image's user: byte-code for Airflow's __init__ that records the real source's time and
# size (so Python takes it) and first leaves a mark, where root's processes would look for it: in
# the shared folder of before bytecode-cache-per-uid, and in the folder root's would be now.
PLANT = """\
import importlib.util, os, sys
from importlib._bootstrap_external import _code_to_timestamp_pyc
source = importlib.util.find_spec("airflow").origin
found = os.stat(source)
code = compile("open('/tmp/planted-code-ran', 'w').write('ran')\\n" + open(source).read(), source, "exec")
for prefix in (sys.argv[1], sys.argv[1] + "-0"):
    sys.pycache_prefix = prefix
    target = importlib.util.cache_from_source(source)
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    os.chmod(prefix, 0o755)
    with open(target, "wb") as out:
        out.write(_code_to_timestamp_pyc(code, found.st_mtime, found.st_size))
    print("planted", target)
"""


def test_byte_code_another_uid_left_is_not_run(target: Target, docker: Docker) -> None:
    """Issue 30's finding 4: in one container (here: one /tmp shared by two), the image's user leaves
    byte-code where a root process would read it; root imports Airflow through the entry point and
    must not run it."""
    if not target.expected.has(contract.Change.PYCACHE_PER_UID):
        pytest.skip(f"Runtime {target.expected.runtime_version} was released before "
                    f"{contract.Change.PYCACHE_PER_UID.value} (its slim images share one byte-code folder)")
    if target.expected.bytecode:
        pytest.skip(f"{target.ref} ships its byte-code: Python writes none at run time")
    require_native(target, "importing Airflow twice")
    volume = f"runtime-test-tmp-{uuid.uuid4().hex[:8]}"
    docker.run("volume", "create", *docker.labels(), volume)
    try:
        shared = ("-v", f"{volume}:/tmp")
        planted = docker.oneshot(target.ref, target.platform, "python", "-c", PLANT, contract.PYCACHE_PREFIX,
                                 options=(*shared, "--user", f"{contract.UID}:0"))
        assert planted.returncode == 0 and planted.stdout.count("planted") == 2, planted.output[-3000:]
        victim = docker.oneshot(target.ref, target.platform, "python", "-c",
                                "import os, airflow; print('mark:', os.path.exists('/tmp/planted-code-ran'))",
                                options=(*shared, "--user", "0:0"), timeout=300)
        assert victim.returncode == 0, victim.output[-3000:]
        assert victim.stdout.strip().splitlines()[-1] == "mark: False", "root ran the byte-code uid 50000 left"
        assert f"{contract.PYCACHE_PREFIX}-0 is not a private folder of uid 0" in victim.stderr, victim.stderr
    finally:
        docker.run("volume", "rm", "-f", volume)

