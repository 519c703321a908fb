"""The host adapter's pure parts: what it clears before starting an engine."""

from __future__ import annotations

from pathlib import Path

from runtime_builder.images.host import clear_stale_pid_files


def _process(proc: Path, pid: int, comm: str) -> None:
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "comm").write_text(comm + "\n")


def test_pid_files_of_processes_that_are_gone_or_are_others_are_removed(tmp_path: Path) -> None:
    proc, run = tmp_path / "proc", tmp_path / "run"
    run.mkdir()
    _process(proc, 3680, "python3")  # containerd's old number, now another program's
    _process(proc, 41, "dockerd")
    reused, gone, live, garbage = run / "containerd.pid", run / "gone.pid", run / "docker.pid", run / "bad.pid"
    reused.write_text("3680")
    gone.write_text("99999")
    live.write_text("41\n")
    garbage.write_text("not a number")

    removed = clear_stale_pid_files({reused: "containerd", gone: "containerd", live: "dockerd",
                                     garbage: "dockerd", run / "absent.pid": "dockerd"}, proc)

    assert removed == [reused, gone, garbage]
    assert live.exists() and not reused.exists() and not gone.exists() and not garbage.exists()
