"""Build secrets: the index URL (which may carry credentials) is never readable by others, not on
argv of the build, and gone when the build ends."""

from __future__ import annotations

import stat

from runtime_builder.images.secrets import build_secrets, for_build

URL = "https://user:s3cret@pypi.example.invalid/simple"


def test_the_index_url_file_is_private_from_the_start_and_removed_after_the_build(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", URL)
    monkeypatch.setattr("os.umask", lambda mask: 0)  # a permissive umask must not matter
    with for_build(tmp_path / "secrets") as secrets:
        path = secrets["indexurl"]
        assert path.read_text() == URL
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.exists() and not path.parent.exists()
    assert list((tmp_path / "secrets").iterdir()) == []


def test_the_secrets_are_removed_when_the_build_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", URL)
    try:
        with for_build(tmp_path / "secrets") as secrets:
            path = secrets["indexurl"]
            raise RuntimeError("the build failed")
    except RuntimeError:
        pass
    assert not path.exists()


def test_disabled_secrets_write_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", URL)
    with for_build(tmp_path / "secrets", enabled=False) as secrets:
        assert secrets == {}
    assert not (tmp_path / "secrets").exists()


def test_a_stale_file_is_replaced_not_reused(tmp_path):
    (tmp_path / "indexurl").write_text("old")
    (tmp_path / "indexurl").chmod(0o644)
    path = build_secrets(tmp_path, None, URL)["indexurl"]
    assert path.read_text() == URL and stat.S_IMODE(path.stat().st_mode) == 0o600
