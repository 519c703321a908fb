#!/usr/bin/env python3
"""Build the Airflow Runtime images: `python3 build.py --help`.

This file only makes sure the project's locked dependencies are installed (in .venv, on the
first run) and hands over to the `runtime_builder` package, where all the logic lives.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".requirements.sha256"


def _in_project_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _ensure_venv() -> None:
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    print(f"setting up {VENV.name}/ from {LOCK.name} (first run, or the lock changed)", file=sys.stderr)
    if not (VENV / "bin" / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(LOCK)], check=True)
    STAMP.write_text(digest)


if __name__ == "__main__":
    if sys.version_info < (3, 11):  # noqa: UP036 - checked before anything is installed for a Python too old
        print(f"error: build.py needs Python 3.11 or newer; this is {sys.version.split()[0]} "
              f"({sys.executable}). Run it with a newer python3.", file=sys.stderr)
        sys.exit(2)
    if not _in_project_venv():
        _ensure_venv()
        python = str(VENV / "bin" / "python")
        os.execv(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]])
    from runtime_builder.cli import main

    sys.exit(main())
