"""The host adapter's pure parts: what it clears before starting an engine, and how it reads and
re-registers the arm64 emulator's binfmt_misc handler."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime_builder.images import host
from runtime_builder.images.host import (
    HostError,
    clear_stale_pid_files,
    debian_archive,
    parse_binfmt,
    qemu_version,
)

# /proc/sys/fs/binfmt_misc/qemu-aarch64 as Debian 12's qemu-user-static registers it.
DEBIAN_HANDLER = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


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


def test_a_handler_is_registered_again_with_the_same_magic_mask_and_flags_and_another_emulator() -> None:
    handler = parse_binfmt(DEBIAN_HANDLER)

    assert handler.interpreter == "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"
    assert handler.flags == "PF"
    line = handler.register_line("qemu-aarch64", "/usr/local/lib/runtime-builder/qemu-aarch64")
    name, kind, offset, magic, mask, interpreter, flags = line.removeprefix(":").split(":")
    assert (name, kind, offset, interpreter, flags) == ("qemu-aarch64", "M", "0",
                                                        "/usr/local/lib/runtime-builder/qemu-aarch64", "PF")
    assert magic == r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
    assert mask == r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"


def test_a_handler_without_its_interpreter_or_magic_is_an_error() -> None:
    with pytest.raises(HostError, match="unreadable binfmt_misc handler"):
        parse_binfmt("enabled\nflags: PF\n")


def test_qemu_versions_are_read_from_its_version_line() -> None:
    assert qemu_version("qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright") == (7, 2)
    assert qemu_version("qemu-aarch64 version 10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)") == (10, 0)
    assert qemu_version("bash: qemu-aarch64: not found") is None


def test_the_debian_archive_is_the_one_apt_uses_for_the_hosts_release() -> None:
    targets = ("http://deb.debian.org/debian-security/\tDebian-Security\tbookworm-security\n"
               "http://mirror.example/debian/\tDebian\tbookworm-updates\n"
               "http://mirror.example/debian/\tDebian\tbookworm\n"
               "https://download.docker.com/linux/debian/\tDocker CE\tbookworm\n")

    assert debian_archive(targets, "bookworm") == "http://mirror.example/debian/"
    assert debian_archive(targets, "trixie") is None
    assert debian_archive("", "bookworm") is None


def _emulator(path: Path, version: str) -> Path:
    path.write_text(f"#!/bin/sh\necho 'qemu-aarch64 version {version} (test)'\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def binfmt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A binfmt_misc folder (files standing in for /proc's) and QEMU_DIR, both under tmp_path."""
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    (folder / "register").write_text("")
    monkeypatch.setattr(host, "BINFMT", folder)
    monkeypatch.setattr(host, "QEMU_DIR", tmp_path / "runtime-builder")
    return folder


def _handler(binfmt: Path, interpreter: Path) -> Path:
    handler = binfmt / "qemu-aarch64"
    handler.write_text(DEBIAN_HANDLER.replace("/usr/libexec/qemu-binfmt/aarch64-binfmt-P", str(interpreter)))
    return handler


def test_an_old_emulator_is_replaced_by_the_unpacked_one_under_the_same_magic(
        binfmt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = _handler(binfmt, _emulator(tmp_path / "qemu-7", "7.2.22"))
    monkeypatch.setattr(host, "_unpack_qemu", lambda emulator: _emulator(emulator, "10.0.13"))

    host.ensure_fast_qemu(handler)

    assert handler.read_text() == "-1"  # unregistered, then registered again:
    registered = (binfmt / "register").read_text()
    assert registered == parse_binfmt(DEBIAN_HANDLER).register_line("qemu-aarch64",
                                                                    str(tmp_path / "runtime-builder" / "qemu-aarch64"))


def test_without_a_newer_emulator_the_old_one_stays_and_a_line_says_so(
        binfmt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    handler = _handler(binfmt, _emulator(tmp_path / "qemu-7", "7.2.22"))
    before = handler.read_text()

    def offline(emulator: Path) -> None:
        raise HostError("apt-get update failed: no network")
    monkeypatch.setattr(host, "_unpack_qemu", offline)

    host.ensure_fast_qemu(handler)

    assert handler.read_text() == before and (binfmt / "register").read_text() == ""
    assert "keeping " in capsys.readouterr().out


@pytest.mark.parametrize("interpreter", ["new enough", "not on this host"])
def test_a_new_enough_or_foreign_emulator_is_left_alone(binfmt: Path, tmp_path: Path, interpreter: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = _emulator(tmp_path / "qemu-10", "10.0.13") if interpreter == "new enough" else tmp_path / "absent"
    handler = _handler(binfmt, path)
    before = handler.read_text()
    monkeypatch.setattr(host, "_unpack_qemu", lambda emulator: pytest.fail("nothing is downloaded"))

    host.ensure_fast_qemu(handler)

    assert handler.read_text() == before and (binfmt / "register").read_text() == ""


class _Engine:
    client = "/usr/bin/docker"
    driver = "embedded"

    def __init__(self, answers: bool) -> None:
        self.answers = answers

    def info(self) -> bool:
        return self.answers


def test_a_command_only_checks_the_host_and_names_setup(monkeypatch) -> None:
    """No command but `setup` installs or starts anything: a missing part is named, with the command
    that sets it up."""
    monkeypatch.setattr(host.Engine, "detect", classmethod(lambda cls: _Engine(answers=False)))
    monkeypatch.setattr(host, "_registry_answers", lambda addr: False)
    monkeypatch.setattr(host, "_handler_enabled", lambda: False)
    monkeypatch.setattr(host.Platform, "native", classmethod(lambda cls: host.Platform.AMD64))
    monkeypatch.setattr(host.shutil, "which", lambda name: None)
    installed = []
    monkeypatch.setattr(host, "ensure_packages", installed.append)
    with pytest.raises(HostError) as error:
        host.require(arm64=True, programs=("docker-compose",))
    message = str(error.value)
    assert "a Docker engine that answers" in message and "arm64 emulation" in message
    assert "the local registry on 127.0.0.1:5000" in message and "`docker-compose`" in message
    assert "python3 build.py setup --platform linux/arm64 --for-tests" in message
    assert installed == []


def test_a_working_engine_is_used_as_it_is(monkeypatch) -> None:
    """A laptop's or a CI runner's Docker answers: setup installs no docker.io and starts no dockerd."""
    monkeypatch.setattr(host.Engine, "detect", classmethod(lambda cls: _Engine(answers=True)))
    monkeypatch.setattr(host, "_registry_answers", lambda addr: True)
    asked = []
    monkeypatch.setattr(host, "ensure_packages", lambda names: asked.append(sorted(names)))
    monkeypatch.setattr(host, "ensure_engine", lambda: asked.append("engine started"))
    monkeypatch.setattr(host, "ensure_registry", lambda: asked.append("registry"))
    host.setup(arm64=False)
    assert asked == [["mmdebstrap"], "registry"], asked


def test_without_apt_the_setup_says_what_to_install(monkeypatch) -> None:
    """Without dpkg, not even asking what is installed: no FileNotFoundError (issue 31)."""
    def no_dpkg(name: str) -> bool:
        raise FileNotFoundError("dpkg-query")

    monkeypatch.setattr(host, "_installed", no_dpkg)
    monkeypatch.setattr(host.shutil, "which", lambda name: None)
    with pytest.raises(HostError, match=r"this host has no apt and dpkg: make sure docker-compose \(the Debian "):
        host.ensure_packages(["docker-compose"])
