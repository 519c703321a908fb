"""Byte-code: an image that ships it imports Airflow from it; a slim image from `slim-no-bytecode`
on ships none, and Python keeps what it compiles under PYTHONPYCACHEPREFIX, where a container's
later processes read it: under any uid in group 0 with a read-only root and /tmp mounted too,
where the release runs so (`hardened`). (A project built on such an image adds none either:
test_onbuild.py.)"""

from __future__ import annotations

import re

import pytest

from runtime_builder import contract

from . import checks
from .support import Docker, Prober, Target

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
        assert target.expected.environment.get("PYTHONPYCACHEPREFIX") == contract.PYCACHE_PREFIX
        # The first process compiled Airflow there; the second read it (not compiled again).
        assert source[1] == f"{contract.PYCACHE_PREFIX}{site_packages(target)}/airflow/__init__.{tag}.pyc", \
            f"Airflow's code came from {source[1]}, not from the byte-code the first process left" \
            f"{' (read-only root, any uid)' if locked_down else ''}"

