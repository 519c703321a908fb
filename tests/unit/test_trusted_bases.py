"""The bases' digests this host recorded (images/trusted_bases.py): a base another process put
in the shared local registry is refused before anything is built on it (issue 30, finding 7)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime_builder.errors import BootstrapError
from runtime_builder.images import trusted_bases

REF = "127.0.0.1:5000/runtime-bases/python:3.13-slim-trixie"
MINE, OTHER = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "state" / "airflow-runtime" / "bases.json"


def test_a_recorded_base_passes_and_a_replaced_one_is_refused_naming_both(record):
    trusted_bases.record(REF, MINE, record)
    trusted_bases.check(REF, MINE, record)
    with pytest.raises(BootstrapError, match=rf"{REF} in the registry is {OTHER}, but this host made {MINE}"):
        trusted_bases.check(REF, OTHER, record)


def test_an_unrecorded_base_passes(record):
    trusted_bases.check(REF, OTHER, record)
    assert trusted_bases.recorded(REF, record) is None


def test_the_record_is_its_users_alone(record):
    trusted_bases.record(REF, MINE, record)
    assert record.stat().st_mode & 0o777 == 0o600 and record.parent.stat().st_mode & 0o777 == 0o700
    assert not [p for p in record.parent.iterdir() if p != record], "no temporary file left"


def test_a_record_others_can_write_vouches_for_nothing(record):
    trusted_bases.record(REF, MINE, record)
    os.chmod(record, 0o666)
    with pytest.raises(BootstrapError, match="can be written by others"):
        trusted_bases.check(REF, MINE, record)


def test_the_record_sits_in_the_users_state_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(trusted_bases.RECORD_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert trusted_bases.record_path() == tmp_path / "airflow-runtime" / "bases.json"
