"""A project's airflow_settings.yaml: what `build.py run` imports, and what it refuses, without an engine."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from runtime_builder.deploy import settings
from runtime_builder.deploy.settings import AirflowSettings
from runtime_builder.errors import UsageError

from .support import REPO_ROOT

FIXTURE_PROJECT = REPO_ROOT / "tests" / "deploy" / "project"

# As the Astro CLI's template writes it (placeholders left empty), then filled in.
ASTRO_STYLE = """\
# This file allows you to configure Airflow Connections, Pools, and Variables in a single place.
airflow:
  connections:
    - conn_id:
      conn_type:
      conn_host:
      conn_schema:
      conn_login:
      conn_password:
      conn_port:
      conn_extra:
    - conn_id: warehouse
      conn_type: postgres
      conn_host: db.example.com
      conn_schema: analytics
      conn_login: loader
      conn_password: s3cret-password
      conn_port: 5432
      conn_extra:
        sslmode: require
    - conn_id: api
      conn_uri: 'https://user:s3cret-password@api.example.com:8443/v1'
    - conn_id: legacy
      conn_type: http
      conn_port: "8080"
      conn_extra: '{"timeout": 30}'
  pools:
    - pool_name:
      pool_slot:
      pool_description:
    - pool_name: warehouse sessions
      pool_slot: 4
      pool_description: one warehouse
    - pool_name: unlimited
      pool_slot: -1
  variables:
    - variable_name:
      variable_value:
    - variable_name: environment
      variable_value: local
    - variable_name: retries
      variable_value: 3
    - variable_name: config
      variable_value: {tables: [a, b]}
    - variable_name: empty
"""


def test_an_astro_style_file_is_read_as_the_astro_cli_reads_it():
    found = settings.parse(ASTRO_STYLE, "p/airflow_settings.yaml")
    assert found.connections == {
        "warehouse": {"conn_type": "postgres", "host": "db.example.com", "schema": "analytics", "login": "loader",
                      "password": "s3cret-password", "port": 5432, "extra_dejson": {"sslmode": "require"}},
        "api": {"uri": "https://user:s3cret-password@api.example.com:8443/v1"},
        "legacy": {"conn_type": "http", "port": 8080, "extra_dejson": {"timeout": 30}},
    }
    assert found.pools == {
        "warehouse sessions": {"slots": 4, "description": "one warehouse", "include_deferred": False},
        "unlimited": {"slots": -1, "description": "", "include_deferred": False},
    }
    assert found.variables == {"environment": "local", "retries": "3", "config": '{"tables": ["a", "b"]}',
                               "empty": ""}
    assert found.summary() == ("3 connections (warehouse, api, legacy), 2 pools (warehouse sessions, unlimited), "
                               "4 variables (environment, retries, config, empty)")


def test_the_import_files_are_airflows_own_import_formats():
    found = settings.parse(ASTRO_STYLE, "p/airflow_settings.yaml")
    files = found.import_files()
    assert sorted(files) == ["connections.json", "pools.json", "variables.json"]
    assert json.loads(files["connections.json"]) == found.connections
    assert json.loads(files["pools.json"]) == found.pools
    assert json.loads(files["variables.json"]) == found.variables
    command = found.import_command()
    assert command[:2] == ("bash", "-c")
    assert command[2] == (
        'set -eo pipefail; log="$(mktemp)"; '
        'airflow connections import --overwrite /tmp/runtime-settings/connections.json 2>&1 | tee -a "$log"; '
        'airflow pools import /tmp/runtime-settings/pools.json 2>&1 | tee -a "$log"; '
        'airflow variables import /tmp/runtime-settings/variables.json 2>&1 | tee -a "$log"; '
        "if grep -q -e 'Could not import' -e 'failed to be updated' \"$log\"; then "
        'echo "not every entry was imported"; exit 1; fi')


@pytest.mark.parametrize(("outputs", "code"), [
    (["Imported connection a", "Uploaded 1 pool(s)"], 0),
    (["Could not import connection a: connection already exists.", "Uploaded 1 pool(s)"], 1),
    (["Imported connection a", "1 variable(s) failed to be updated."], 1),
])
def test_the_import_fails_when_airflow_skips_an_entry(tmp_path: Path, outputs, code):
    """The command itself, run by bash with stand-ins for Airflow's import commands."""
    stand_in = tmp_path / "airflow"
    stand_in.write_text("#!/bin/bash\n" + "".join(
        f'[ "$1" = {section} ] && echo {line!r}\n' for section, line in zip(["connections", "pools"], outputs,
                                                                             strict=True)) + "exit 0\n")
    stand_in.chmod(0o755)
    found = AirflowSettings(connections={"a": {"conn_type": "http"}}, pools={"p": {"slots": 1}})
    result = subprocess.run(found.import_command(), capture_output=True, text=True,
                            env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert result.returncode == code, result.stdout + result.stderr
    assert all(line in result.stdout for line in outputs)


def test_only_the_sections_with_entries_are_imported():
    found = settings.parse("airflow:\n  variables:\n    - variable_name: a\n      variable_value: b\n", "f")
    assert list(found.import_files()) == ["variables.json"]
    assert found.summary() == "1 variable (a)"
    assert "airflow variables import /tmp/runtime-settings/variables.json" in found.import_command()[2]
    assert "connections" not in found.import_command()[2]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "airflow:\n", "airflow:\n  connections:\n  pools: []\n",
                                  "airflow:\n  variables:\n    - variable_name:\n      variable_value:\n"])
def test_an_empty_or_template_file_imports_nothing(text):
    found = settings.parse(text, "f")
    assert not found and found.import_files() == {} and found.summary() == ""


@pytest.mark.parametrize(("text", "message"), [
    ("airflow: [\n", "f line 2, column 1: expected the node content"),
    ("- a\n", "f: a mapping of airflow is expected, not a list"),
    ("airflow: {}\nastro: {}\n", "f: astro: not a field here (the fields are airflow)"),
    ("airflow:\n  connection: []\n", "f: airflow: connection: not a field here (the fields are connections, pools, "
                                     "variables)"),
    ("airflow:\n  pools: {a: 1}\n", "f: airflow.pools: a list of entries is expected, not a mapping"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_hots: y\n",
     "f: airflow.connections entry 1: conn_hots: not a field here"),
    ("airflow:\n  connections:\n    - conn_host: h\n      conn_password: s3cret-password\n",
     "f: airflow.connections entry 1: conn_id is missing"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_password: s3cret-password\n",
     "f: airflow.connections entry 1: conn_type (or conn_uri) is missing"),
    ("airflow:\n  connections:\n    - conn_id: x y\n      conn_type: http\n",
     "f: airflow.connections entry 1: conn_id 'x y': Airflow's import takes letters, digits"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_uri: http://u:s3cret-password@h\n      conn_host: h\n",
     "f: airflow.connections entry 1: conn_uri and conn_host: a connection is a URI or separate fields"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_type: http\n      conn_port: 70000\n",
     "f: airflow.connections entry 1: conn_port 70000: from 1 to 65535 is expected"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_type: http\n      conn_port: eighty\n",
     "f: airflow.connections entry 1: conn_port: a whole number is expected, not text"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_type: http\n      conn_extra: '{s3cret-password'\n",
     "f: airflow.connections entry 1: conn_extra: text that is not JSON"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_type: http\n      conn_password: yes\n",
     "f: airflow.connections entry 1: conn_password: YAML reads this value as a true/false value"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_type: http\n    - conn_id: x\n      conn_type: ftp\n",
     "f: airflow.connections entry 2: conn_id 'x' again (first in f: airflow.connections entry 1)"),
    ("airflow:\n  pools:\n    - pool_name: p\n", "f: airflow.pools entry 1: pool_slot is missing"),
    ("airflow:\n  pools:\n    - pool_name: p\n      pool_slot: -2\n",
     "f: airflow.pools entry 1: pool_slot -2: -1 or more is expected"),
    ("airflow:\n  pools:\n    - pool_name: p\n      pool_slot: 2.5\n",
     "f: airflow.pools entry 1: pool_slot: a whole number is expected, not a number"),
    ("airflow:\n  variables:\n    - variable_value: s3cret-password\n",
     "f: airflow.variables entry 1: variable_name is missing"),
    ("airflow:\n  variables:\n    - variable_name: v\n      variable_value: 1.10\n",
     "f: airflow.variables entry 1: variable_value: YAML reads this value as a number, not as the text written; "
     "put it in quotes"),
    ("airflow:\n  variables:\n    - variable_name: v\n      variable_value: a\n    - variable_name: v\n",
     "f: airflow.variables entry 2: variable_name 'v' again"),
    # issue 31: a date or binary inside a mapping or list was a TypeError ("not JSON serializable") when the
    # import files were written, after the deployment had started
    ("airflow:\n  variables:\n    - variable_name: v\n      variable_value: {since: 2026-01-01}\n",
     "f: airflow.variables entry 1: variable_value: YAML reads a value in it as a date, which JSON has no form "
     "for; put it in quotes"),
    ("airflow:\n  variables:\n    - variable_name: v\n      variable_value: [1, [2026-01-01T10:00:00]]\n",
     "f: airflow.variables entry 1: variable_value: YAML reads a value in it as a date and time"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_type: http\n      conn_extra: {since: 2026-01-01}\n",
     "f: airflow.connections entry 1: conn_extra: YAML reads a value in it as a date, which JSON has no form for"),
    ("airflow:\n  connections:\n    - conn_id: x\n      conn_type: http\n      conn_extra: {k: !!binary aGk=}\n",
     "f: airflow.connections entry 1: conn_extra: YAML reads a value in it as binary data"),
    ("airflow:\n  variables:\n    - variable_name: v\n      variable_value: 2026-01-01\n",
     "f: airflow.variables entry 1: variable_value: YAML reads this value as a date, not as the text written; "
     "put it in quotes"),
])
def test_a_bad_settings_file_is_refused_naming_the_entry_and_field(text, message):
    with pytest.raises(UsageError) as caught:
        settings.parse(text, "f")
    assert message in str(caught.value), str(caught.value)
    assert "s3cret" not in str(caught.value), "an error showed a value of the file"


def test_a_yaml_error_does_not_quote_the_line_it_is_on():
    with pytest.raises(UsageError) as caught:
        settings.parse("airflow:\n  variables:\n    - variable_name: v\n      variable_value: \"s3cret-password\n",
                       "f")
    assert str(caught.value).startswith("f line ") and "s3cret" not in str(caught.value), str(caught.value)


def test_environment_names_that_would_hide_an_entry():
    found = AirflowSettings(connections={"my_db": {"conn_type": "postgres"}}, variables={"env": "local"})
    assert found.environment_names() == {"AIRFLOW_CONN_MY_DB": "connection my_db", "AIRFLOW_VAR_ENV": "variable env"}


def test_a_project_without_settings_file_imports_nothing(tmp_path: Path):
    assert not settings.load(tmp_path)
    (tmp_path / settings.SETTINGS_FILE).write_bytes(
        "\ufeffairflow:\r\n  variables:\r\n    - variable_name: a\r\n      variable_value: b\r\n".encode())
    assert settings.load(tmp_path).variables == {"a": "b"}


def test_the_files_reach_the_container_readable_by_any_user():
    found = settings.parse(ASTRO_STYLE, "f")
    with tarfile.open(fileobj=io.BytesIO(found.import_archive())) as archive:
        members = {member.name: member for member in archive.getmembers()}
        assert sorted(members) == ["tmp/runtime-settings", *(f"tmp/runtime-settings/{name}" for name in
                                                             sorted(found.import_files()))]
        assert members["tmp/runtime-settings"].isdir() and members["tmp/runtime-settings"].mode == 0o755
        for name, text in found.import_files().items():
            assert members[f"tmp/runtime-settings/{name}"].mode == 0o644
            assert archive.extractfile(f"tmp/runtime-settings/{name}").read() == text.encode()


def test_run_refuses_a_bad_settings_file_before_starting_anything(cli, tmp_path: Path):
    folder = tmp_path / "project"
    shutil.copytree(FIXTURE_PROJECT, folder)
    (folder / settings.SETTINGS_FILE).write_text("airflow:\n  pools:\n    - pool_name: p\n")
    result = cli("--root", REPO_ROOT, "run", "--project", folder, "--executor", "local")
    assert result.code == 2, result.err
    assert f"{folder}/airflow_settings.yaml: airflow.pools entry 1: pool_slot is missing" in result.err, result.err


def test_run_refuses_an_entry_its_env_file_would_hide(cli, tmp_path: Path):
    folder = tmp_path / "project"
    shutil.copytree(FIXTURE_PROJECT, folder)
    (folder / settings.SETTINGS_FILE).write_text(
        "airflow:\n  connections:\n    - conn_id: postgres_default\n      conn_type: postgres\n"
        "  variables:\n    - variable_name: Greeting\n      variable_value: hi\n")
    (folder / ".env").write_text("AIRFLOW_VAR_GREETING=hello\nAIRFLOW_CONN_POSTGRES_DEFAULT=postgresql://x\n")
    result = cli("--root", REPO_ROOT, "run", "--project", folder, "--executor", "local")
    assert result.code == 2, result.err
    assert (f"{folder}/airflow_settings.yaml: connection postgres_default, variable Greeting would be hidden by "
            f"AIRFLOW_CONN_POSTGRES_DEFAULT, AIRFLOW_VAR_GREETING in {folder}/.env") in result.err, result.err


# -- aliases (issue 30): a few hundred bytes must not become gigabytes ------------------------------

ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9) if previous else ', '.join(['x'] * 9)}]\n"
    for previous, name in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True)
) + "airflow: {variables: [{variable_name: v, variable_value: *h}]}\n"


@pytest.mark.parametrize(("text", "where"), [
    pytest.param(ALIAS_BOMB, "line 2, column 8", id="alias-bomb"),
    pytest.param("airflow: &a [*a]\n", "line 1, column 14", id="a-list-holding-itself"),
])
def test_aliases_are_refused_before_they_expand(text, where):
    assert len(text) < 600  # 9**8 strings once expanded: 43 million
    with pytest.raises(UsageError) as raised:
        settings.parse(text, "airflow_settings.yaml")
    assert str(raised.value).startswith(f"airflow_settings.yaml {where}: an alias (*")


def test_an_anchor_alone_is_a_plain_value():
    parsed = settings.parse("airflow:\n  variables:\n    - variable_name: &n env\n      variable_value: local\n",
                            "airflow_settings.yaml")
    assert parsed.variables == {"env": "local"}
