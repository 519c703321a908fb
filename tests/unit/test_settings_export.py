"""`export`: airflow_settings.yaml from what a deployment holds, read from the output of Airflow's
own export commands (as each major writes it), without an engine."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from runtime_builder.deploy import settings
from runtime_builder.deploy.settings import AirflowSettings
from runtime_builder.deploy.settings_export import (
    EXPORT_COMMAND,
    changes,
    dropped,
    from_export,
    merge,
    to_yaml,
)
from runtime_builder.errors import UsageError

PASSWORD = "s3cret-password"

# What `airflow connections export FILE --file-format json` writes, the same in 2.10, 2.11, 3.1 and
# 3.3: json.dumps(..., indent=2) of _connection_to_dict, by conn_id; extra is the connection's text.
CONNECTIONS = """\
{
  "http_api": {
    "conn_type": "http",
    "description": null,
    "login": null,
    "password": null,
    "host": "api.example.com",
    "port": 8443,
    "schema": "https",
    "extra": "{\\"timeout\\": 30}"
  },
  "my_db": {
    "conn_type": "postgres",
    "description": "the analytics warehouse",
    "login": "loader",
    "password": "s3cret-password",
    "host": "db.example.com",
    "port": 5432,
    "schema": "analytics",
    "extra": "{\\"sslmode\\": \\"require\\"}"
  },
  "s3_logs": {
    "conn_type": "aws",
    "description": "",
    "login": null,
    "password": null,
    "host": null,
    "port": null,
    "schema": null,
    "extra": null
  }
}"""

# `airflow pools export FILE`: json.dumps(..., sort_keys=True, indent=4) of pool_export_helper's
# entries (2.10, 2.11, 3.1); 3.3 adds team_name to a pool of a team.
POOLS = """\
{
    "default_pool": {
        "description": "Default pool",
        "include_deferred": false,
        "slots": 128
    },
    "unlimited": {
        "description": null,
        "include_deferred": false,
        "slots": -1
    },
    "warehouse": {
        "description": "one warehouse, four sessions",
        "include_deferred": true,
        "slots": 4
    }
}"""
POOLS_3_3 = POOLS.replace('''"slots": 4
''', '''"slots": 4,
        "team_name": "analytics"
''')

# `airflow variables export FILE`: json.dump(..., sort_keys=True, indent=4), each value decoded when
# it is JSON. Stored: config '{"tables": ["a", "b"]}', empty '', enabled 'true', environment 'local',
# greeting '"hello"', retries '3' (and in 3.x environment has a description, payload is '{"value": 1}').
VARIABLES_2 = """\
{
    "config": {
        "tables": [
            "a",
            "b"
        ]
    },
    "empty": "",
    "enabled": true,
    "environment": "local",
    "greeting": "hello",
    "retries": 3
}"""
# 3.1: a Variable with a description as {"description", "value"}.
VARIABLES_3_1 = """\
{
    "config": {
        "tables": [
            "a",
            "b"
        ]
    },
    "environment": {
        "description": "where the DAGs run",
        "value": "local"
    },
    "greeting": "hello",
    "payload": {
        "value": 1
    },
    "retries": 3
}"""
# 3.3: text as stored, and a value that is an object with a "value" key wrapped too.
VARIABLES_3_3 = """\
{
    "config": {
        "tables": [
            "a",
            "b"
        ]
    },
    "environment": {
        "description": "where the DAGs run",
        "value": "local"
    },
    "greeting": "\\"hello\\"",
    "payload": {
        "description": null,
        "value": {
            "value": 1
        }
    },
    "retries": 3
}"""


def document(connections: str = CONNECTIONS, pools: str = POOLS, variables: str = VARIABLES_2) -> str:
    """EXPORT_COMMAND's output around the three files (test_the_export_command_prints_one_document)."""
    return f'{{"connections": {connections}, "pools": {pools}, "variables": {variables}}}\n'


EXPECTED_CONNECTIONS = {
    "http_api": {"conn_type": "http", "host": "api.example.com", "schema": "https", "port": 8443,
                 "extra_dejson": {"timeout": 30}},
    "my_db": {"conn_type": "postgres", "host": "db.example.com", "schema": "analytics", "login": "loader",
              "password": PASSWORD, "port": 5432, "extra_dejson": {"sslmode": "require"}},
    "s3_logs": {"conn_type": "aws"},
}
EXPECTED_POOLS = {
    "default_pool": {"slots": 128, "description": "Default pool", "include_deferred": False},
    "unlimited": {"slots": -1, "description": "", "include_deferred": False},
    "warehouse": {"slots": 4, "description": "one warehouse, four sessions", "include_deferred": False},
}


def test_airflow_2s_export_is_read_as_the_loader_reads_the_file():
    found = from_export(document(), "airflow-2")
    assert found.connections == EXPECTED_CONNECTIONS
    assert found.pools == EXPECTED_POOLS
    assert found.variables == {"config": '{"tables": ["a", "b"]}', "empty": "", "enabled": "true",
                               "environment": "local", "greeting": "hello", "retries": "3"}


@pytest.mark.parametrize(("pools", "variables", "greeting"), [
    (POOLS, VARIABLES_3_1, "hello"),  # 3.1 decodes '"hello"', as Airflow 2 does
    (POOLS_3_3, VARIABLES_3_3, '"hello"'),
], ids=["3.1", "3.3"])
def test_airflow_3s_export_is_read_with_its_descriptions_unwrapped(pools, variables, greeting):
    found = from_export(document(pools=pools, variables=variables), "airflow-3")
    assert found.connections == EXPECTED_CONNECTIONS
    assert found.pools == EXPECTED_POOLS
    assert found.variables == {"config": '{"tables": ["a", "b"]}', "environment": "local", "greeting": greeting,
                               "payload": '{"value": 1}', "retries": "3"}


def test_what_the_file_has_no_field_for_is_named_never_shown():
    assert dropped(document(), "d") == ["connection my_db: description", "pool warehouse: include_deferred"]
    assert dropped(document(pools=POOLS_3_3, variables=VARIABLES_3_3), "d") == [
        "connection my_db: description", "pool warehouse: include_deferred", "pool warehouse: team_name",
        "variable environment: description"]


def test_an_empty_deployment_exports_nothing():
    found = from_export('{"connections": {}, "pools": {}, "variables": {}}', "d")
    assert not found
    assert settings.parse(to_yaml(found), "x") == found


# -- round trips -------------------------------------------------------------------------------

TRICKY_TEXT = ["yes", "no", "null", "~", "3", "1.10", "0123", "2024-01-01", "", " padded ", "a: b", "- x", "#c",
               "{not json", "[1, 2", "multi\nline\n", "  indented\nblock", "trailing space \nx", "\r\nwindows\r\n",
               "ünïcode ✓", "tab\there", "'quoted'", '"double"', "<<", "=", "%percent", "@at", "*star", "&amp"]


def rich_settings() -> AirflowSettings:
    return AirflowSettings(
        connections={
            "my_db": {"conn_type": "postgres", "host": "db.example.com", "schema": "analytics", "login": "loader",
                      "password": PASSWORD, "port": 5432,
                      "extra_dejson": {"sslmode": "require", "options": {"retries": [1, 2.5, None, True]},
                                       "yes": "no", "<<": "merge", "empty": {}}},
            "key_pair": {"conn_type": "ssh", "password": "-----BEGIN KEY-----\nabc\n-----END KEY-----\n"},
            "api": {"uri": f"https://user:{PASSWORD}@api.example.com:8443/v1"},
        },
        pools={"default_pool": {"slots": 128, "description": "Default pool", "include_deferred": False},
               "unlimited": {"slots": -1, "description": "", "include_deferred": False},
               "warehouse sessions": {"slots": 4, "description": "one: warehouse", "include_deferred": False}},
        variables={
            "config": '{"tables": ["a", "b"], "nested": {"n": 1.5, "yes": true, "none": null}}',
            "list": '[1, "two", {"three": 3}]',
            "compact_json": '{"a":1}',  # not how the loader writes JSON: kept as the text it is
            "retries": "3",
            **{f"text_{number}": text for number, text in enumerate(TRICKY_TEXT)},
        },
    )


def test_the_file_written_reads_back_as_the_settings_it_was_written_from():
    found = rich_settings()
    text = to_yaml(found)
    assert settings.parse(text, "x") == found
    assert list(settings.parse(text, "x").variables) == list(found.variables)


@pytest.mark.parametrize("text", TRICKY_TEXT)
def test_any_text_reads_back_as_written(text):
    found = AirflowSettings(connections={"c": {"conn_type": "http", "login": text or "x", "password": text or "x",
                                               "extra_dejson": {text: text}}},
                            variables={text or "k": text})
    assert settings.parse(to_yaml(found), "x") == found


@pytest.mark.parametrize(("pools", "variables"), [(POOLS, VARIABLES_2), (POOLS, VARIABLES_3_1),
                                                  (POOLS_3_3, VARIABLES_3_3)], ids=["2", "3.1", "3.3"])
def test_an_export_reads_back_from_the_file_written(pools, variables):
    found = from_export(document(pools=pools, variables=variables), "d")
    assert settings.parse(to_yaml(found), "x") == found


def test_the_file_has_the_astro_clis_layout():
    found = from_export(document(), "d")
    text = to_yaml(AirflowSettings(connections={"my_db": found.connections["my_db"]},
                                   pools={"default_pool": found.pools["default_pool"]},
                                   variables={"config": found.variables["config"],
                                              "retries": found.variables["retries"]}))
    assert text == f"""\
airflow:
  connections:
    - conn_id: my_db
      conn_type: postgres
      conn_host: db.example.com
      conn_schema: analytics
      conn_login: loader
      conn_password: {PASSWORD}
      conn_port: 5432
      conn_extra:
        sslmode: require
  pools:
    - pool_name: default_pool
      pool_slot: 128
      pool_description: Default pool
  variables:
    - variable_name: config
      variable_value:
        tables:
          - a
          - b
    - variable_name: retries
      variable_value: '3'
"""


# -- merges ------------------------------------------------------------------------------------

EXISTING = """\
# This file allows you to configure Airflow Connections, Pools, and Variables in a single place for local
# development only.

airflow:
  variables:
    - variable_name: environment
      variable_value: production   # replaced by the export
    - variable_name: only_in_the_file
      variable_value: {kept: true}
  connections:
    - conn_id:
      conn_type:
    - conn_id: legacy
      conn_type: http
      conn_port: "8080"
      conn_extra: '{"timeout": 30}'
    - conn_id: my_db
      conn_uri: 'postgres://loader:s3cret-password@db.example.com:5432/analytics?sslmode=require'
"""


def test_a_merge_replaces_entries_of_the_same_name_and_keeps_the_files_others():
    before = settings.parse(EXISTING, "f")
    exported = from_export(document(variables=VARIABLES_3_1), "d")
    after = merge(before, exported)
    assert list(after.connections) == ["legacy", "my_db", "http_api", "s3_logs"]
    assert after.connections["legacy"] == before.connections["legacy"]
    assert after.connections["my_db"] == exported.connections["my_db"]
    assert after.variables["only_in_the_file"] == '{"kept": true}'
    assert after.variables["environment"] == "local"
    text = to_yaml(after, EXISTING)
    assert settings.parse(text, "x") == after
    assert text == to_yaml(exported, EXISTING)  # to_yaml merges by itself
    # The file's layout: its top comments, its order of sections, its placeholders, and an entry
    # the export does not change as it was written.
    assert text.startswith("# This file allows you to configure Airflow Connections, Pools, and Variables in a "
                           "single place for local\n# development only.\nairflow:\n  variables:\n")
    assert text.index("  variables:") < text.index("  connections:") < text.index("  pools:")
    assert "    - conn_id:\n      conn_type:\n" in text
    assert "      conn_port: '8080'\n      conn_extra: '{\"timeout\": 30}'\n" in text
    assert "conn_uri" not in text  # my_db replaced by the export's separate fields
    assert "# replaced by the export" not in text


def test_an_entry_that_says_what_the_export_says_is_kept_as_written():
    exported = AirflowSettings(connections={"legacy": {"conn_type": "http", "port": 8080,
                                                       "extra_dejson": {"timeout": 30}}})
    assert to_yaml(exported, EXISTING) == to_yaml(AirflowSettings(), EXISTING)
    assert "conn_port: '8080'" in to_yaml(exported, EXISTING)


def test_a_merge_of_some_sections_leaves_the_others_as_they_are():
    before = settings.parse(EXISTING, "f")
    exported = from_export(document(), "d")
    after = merge(before, exported, {"pools"})
    assert after.connections == before.connections and after.variables == before.variables
    assert after.pools == exported.pools
    text = to_yaml(after, EXISTING)
    assert settings.parse(text, "x") == after
    with pytest.raises(UsageError, match=r"^pool: not a section of airflow_settings.yaml \(the sections are "):
        merge(before, exported, {"pool"})


@pytest.mark.parametrize("existing", [None, "", "# just a comment\n", "airflow:\n", "airflow:\n  pools: []\n"])
def test_a_missing_or_empty_file_gets_the_export(existing):
    exported = from_export(document(), "d")
    assert settings.parse(to_yaml(exported, existing), "x") == exported


def test_a_file_the_loader_refuses_is_not_merged_into():
    with pytest.raises(UsageError, match=r"^airflow_settings.yaml: airflow: connection: not a field here"):
        to_yaml(AirflowSettings(), "airflow:\n  connection: []\n")


def test_the_changes_are_named_never_shown():
    before = settings.parse(EXISTING, "f")
    after = merge(before, from_export(document(), "d"), {"connections", "variables"})
    after = merge(after, AirflowSettings(variables={"only_in_the_file": '{"kept": true}'}), {"variables"})
    found = changes(before, after)
    assert found == [
        "connection legacy unchanged", "connection my_db changed", "connection http_api added",
        "connection s3_logs added",
        "variable environment changed", "variable only_in_the_file unchanged", "variable config added",
        "variable empty added", "variable enabled added", "variable greeting added", "variable retries added",
    ]
    assert changes(after, AirflowSettings())[0] == "connection legacy removed"
    assert not any(PASSWORD in line or "local" in line for line in found)


# -- refusals ----------------------------------------------------------------------------------

def replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize(("output", "message"), [
    (document()[:-40], r"^airflow-x: not the JSON document of the export \(Unterminated string starting at: "
                       r"line 58, column 5\)$"),
    (f'Connections successfully exported.\n{document()}', r"^airflow-x: not the JSON document of the export"),
    ("[]", r"^airflow-x: a JSON object of connections, pools, variables is expected, not a list$"),
    ('{"connections": {}, "pools": {}}', r"^airflow-x: a JSON object of connections, pools, variables is expected, "
                                         r"not the keys connections, pools$"),
    (document(pools="[]"), r"^airflow-x: pools: a JSON object is expected, not a list$"),
    (document(connections='{"my_db": "postgres://loader:s3cret-password@db"}'),
     r"^airflow-x: connection my_db: a JSON object is expected, not text$"),
    (document(connections=replace(CONNECTIONS, '"extra": "{\\"sslmode\\": \\"require\\"}"',
                                  '"extra": "sslmode=require&password=s3cret-password"')),
     r"^airflow-x: connection my_db: extra: not a JSON object, which airflow_settings.yaml takes$"),
    (document(connections=replace(CONNECTIONS, '"extra": "{\\"sslmode\\": \\"require\\"}"',
                                  '"extra": "[\\"s3cret-password\\"]"')),
     r"^airflow-x: connection my_db: extra: not a JSON object"),
    (document(connections=replace(CONNECTIONS, '"port": 5432', '"port": 0')),
     r"^airflow-x: connection my_db: conn_port 0: from 1 to 65535 is expected$"),
    (document(connections=replace(CONNECTIONS, '"port": 5432', '"port": "5432"')),
     r"^airflow-x: connection my_db: port: a whole number is expected, not text$"),
    (document(connections=replace(CONNECTIONS, '"password": "s3cret-password"', '"password": ["s3cret-password"]')),
     r"^airflow-x: connection my_db: password: text is expected, not a list$"),
    (document(connections=replace(CONNECTIONS, '"conn_type": "postgres"', '"conn_type": null')),
     r"^airflow-x: connection my_db: conn_type \(or conn_uri\) is missing"),
    (document(connections=replace(CONNECTIONS, '"my_db"', '"my db"')),
     r"^airflow-x: connection my db: Airflow's import takes ids of letters, digits"),
    (document(pools=replace(POOLS, '"slots": 4', '"slots": -2')),
     r"^airflow-x: pool warehouse: pool_slot -2: -1 or more is expected$"),
    (document(pools=replace(POOLS, '"slots": 4', '"slots": true')),
     r"^airflow-x: pool warehouse: pool_slot: a whole number is expected, not a true/false value$"),
    (document(pools=replace(POOLS, '"description": "one warehouse, four sessions"', '"description": 4')),
     r"^airflow-x: pool warehouse: description: text is expected, not a number$"),
    (document(variables='{"": "s3cret-password"}'),
     r"^airflow-x: variables: one without a name, which airflow_settings.yaml cannot hold$"),
    (document(connections='{"": {"conn_type": "http"}}'), r"^airflow-x: connections: one without a name"),
])
def test_output_the_file_cannot_hold_is_refused_without_its_values(output, message):
    with pytest.raises(UsageError, match=message) as refused:
        from_export(output, "airflow-x")
    assert PASSWORD not in str(refused.value)
    assert "sslmode" not in str(refused.value)


# -- the command -------------------------------------------------------------------------------

def stand_in(folder: Path, files: dict[str, str], failing: str = "") -> Path:
    """An `airflow` that writes `files` as its export commands would (`airflow SECTION export FILE
    ...`), chatting on stdout as they do; it logs the files it writes."""
    log = folder / "written"
    for section, text in files.items():
        (folder / f"{section}.fixture").write_text(text)
    script = folder / "airflow"
    script.write_text(
        "#!/bin/bash\n"
        f'[ "$1" = {failing or "none"} ] && {{ echo "Traceback: no database" >&2; exit 1; }}\n'
        f'echo "$3" >> {log}\n'
        f'cp "{folder}/$1.fixture" "$3"\n'
        'echo "Exported to $3"\n')
    script.chmod(0o755)
    return log


def test_the_export_command_is_one_bash_script():
    assert EXPORT_COMMAND[:2] == ("bash", "-c") and len(EXPORT_COMMAND) == 3
    checked = subprocess.run(["bash", "-n", "-c", EXPORT_COMMAND[2]], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    for command in ("airflow connections export \"$dir/connections.json\" --file-format json",
                    "airflow pools export \"$dir/pools.json\"", "airflow variables export \"$dir/variables.json\""):
        assert command in EXPORT_COMMAND[2]


def test_the_export_command_prints_one_document(tmp_path: Path):
    files = {"connections": CONNECTIONS, "pools": POOLS_3_3, "variables": VARIABLES_3_3}
    log = stand_in(tmp_path, files)
    result = subprocess.run(EXPORT_COMMAND, capture_output=True, text=True,
                            env={"PATH": f"{tmp_path}:/usr/bin:/bin", "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == document(**files)
    assert json.loads(result.stdout)["pools"]["warehouse"]["team_name"] == "analytics"
    assert result.stderr.count("Exported to ") == 3  # Airflow's messages, away from the document
    written = log.read_text().split()
    assert [Path(path).name for path in written] == ["connections.json", "pools.json", "variables.json"]
    assert not Path(written[0]).parent.exists()  # the files hold passwords


@pytest.mark.parametrize("failing", ["connections", "pools", "variables"])
def test_the_export_command_fails_when_an_export_fails(tmp_path: Path, failing):
    log = stand_in(tmp_path, {"connections": CONNECTIONS, "pools": POOLS, "variables": VARIABLES_2}, failing)
    result = subprocess.run(EXPORT_COMMAND, capture_output=True, text=True,
                            env={"PATH": f"{tmp_path}:/usr/bin:/bin", "TMPDIR": str(tmp_path)})
    assert result.returncode != 0
    assert result.stdout == ""
    assert "no database" in result.stderr
    written = log.read_text().split() if log.exists() else []
    assert all(not Path(path).parent.exists() for path in written)
