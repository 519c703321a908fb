"""/clean-logs (the log groomer of the airflow-image-contract change), run with bash on a folder of
logs: what it removes and keeps, its variables, and that a signal ends it at once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from runtime_builder.in_image import entrypoint

SCRIPT = Path(entrypoint.__file__).with_name("clean_logs.sh")
DAY = 86400


def _file(path: Path, age_seconds: float, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = time.time() - age_seconds
    os.utime(path, (when, when))
    return path


def _groom(home: Path, **variables: str) -> subprocess.Popen:
    """Start the groomer and return once its first pass is done (it then waits for the next)."""
    environment = {"PATH": os.environ["PATH"], "AIRFLOW_HOME": str(home), **variables}
    process = subprocess.Popen(["bash", str(SCRIPT)], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sleeping = subprocess.run(["pgrep", "-P", str(process.pid), "sleep"], capture_output=True)
        if sleeping.returncode == 0 or process.poll() is not None:
            return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError("clean-logs did not finish its first pass in 20 s")


def _stop(process: subprocess.Popen) -> tuple[int, float]:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=10)
    return code, time.monotonic() - started


def test_old_logs_go_new_ones_and_other_files_stay(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    old = _file(logs / "dag_id=a" / "run_id=1" / "task_id=t" / "attempt=1.log", 16 * DAY)
    new = _file(logs / "dag_id=a" / "run_id=2" / "task_id=t" / "attempt=1.log", 14 * DAY)
    other = _file(logs / "scheduler" / "notes.txt", 30 * DAY)
    kept = _file(logs / "lost+found" / "old.log", 30 * DAY)
    process = _groom(tmp_path)
    assert not old.exists() and not old.parent.parent.exists(), "the old log and its emptied folders stay"
    assert new.exists() and other.exists() and kept.exists()
    assert logs.is_dir()
    code, seconds = _stop(process)
    assert code == 0 and seconds < 5, (code, seconds)


def test_retention_in_days_and_minutes(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    older = _file(logs / "a.log", DAY + 3600)
    younger = _file(logs / "b.log", DAY - 3600)
    process = _groom(tmp_path, AIRFLOW__LOG_RETENTION_DAYS="0", AIRFLOW__LOG_RETENTION_MINUTES="1440")
    _stop(process)
    assert not older.exists() and younger.exists()


def test_a_size_limit_keeps_one_day_less_at_a_time(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    files = [_file(logs / f"{age}.log", (age + 0.5) * DAY, size=100_000) for age in range(1, 6)]
    process = _groom(tmp_path, AIRFLOW__LOG_MAX_SIZE_BYTES="250000")
    _stop(process)
    assert [f.exists() for f in files] == [True, True, False, False, False], "the two newest fit under the limit"


@pytest.mark.parametrize("variable", ["AIRFLOW__LOG_RETENTION_DAYS", "AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES",
                                      "AIRFLOW__LOG_MAX_SIZE_BYTES"])
def test_a_bad_number_names_the_variable(tmp_path: Path, variable: str) -> None:
    result = subprocess.run(["bash", str(SCRIPT)], env={"PATH": os.environ["PATH"], "AIRFLOW_HOME": str(tmp_path),
                                                        variable: "-3"}, capture_output=True, text=True, timeout=10)
    assert result.returncode == 2 and variable in result.stderr, result.stderr


def test_no_logs_folder_yet_is_fine(tmp_path: Path) -> None:
    process = _groom(tmp_path)
    code, _ = _stop(process)
    assert code == 0 and not (tmp_path / "logs").exists()
