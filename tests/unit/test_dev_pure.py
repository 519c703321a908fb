"""The development loop's pure parts: names, mounts, the inputs it refuses, the upgrade test's
package diff and requirement lines, the settings as environment, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime_builder import contract
from runtime_builder.arguments import parse_arguments, parser, split_passed
from runtime_builder.deploy.config import Executor
from runtime_builder.deploy.local import ProjectImage
from runtime_builder.deploy.services import ServiceImages
from runtime_builder.deploy.settings import AirflowSettings
from runtime_builder.dev import checks, commands, session, upgrade_test
from runtime_builder.errors import UsageError
from runtime_builder.matrix.load import load_matrix
from runtime_builder.matrix.model import Variant

ROOT = Path(__file__).resolve().parents[2]


def _project(folder: Path) -> Path:
    (folder / "dags").mkdir(parents=True)
    for name in ("Dockerfile", "packages.txt", "requirements.txt"):
        (folder / name).write_text("FROM airflow-runtime:14.2.1\n" if name == "Dockerfile" else "")
    return folder


def test_a_project_keeps_its_name_and_two_folders_of_one_name_have_two(tmp_path: Path) -> None:
    one, two = _project(tmp_path / "a" / "My Project"), _project(tmp_path / "b" / "My Project")
    name = session.deployment_name(one)
    assert name == session.deployment_name(one) == session.deployment_name(tmp_path / "a" / "." / "My Project")
    assert name.startswith("dev-my-project-") and len(name) == len("dev-my-project-") + 6
    assert session.deployment_name(two) != name
    assert session.deployment_name(_project(tmp_path / "___")).startswith("dev-project-")


def test_only_the_folders_a_project_has_are_mounted_read_only_at_airflow_home(tmp_path: Path) -> None:
    folder = _project(tmp_path / "p")
    (folder / "include").mkdir()
    assert session.binds(folder) == {str(folder / "dags"): f"{contract.AIRFLOW_HOME}/dags",
                                     str(folder / "include"): f"{contract.AIRFLOW_HOME}/include"}


def test_files_the_containers_user_cannot_read_are_named(tmp_path: Path) -> None:
    folder = _project(tmp_path / "p")
    (folder / "dags" / "ok.py").write_text("")
    secret = folder / "dags" / "private.py"
    secret.write_text("")
    secret.chmod(0o600)
    assert session.readable_problems(folder) == ["dags/private.py"]


def test_the_image_label_is_the_repositorys_last_part_and_the_tag() -> None:
    assert session.image_label("airflow-runtime-project/dev-p-1a2b3c:14.2.1-python-3.13-20261206T193125") \
        == "dev-p-1a2b3c:14.2.1-python-3.13-20261206T193125"


def test_env_variables_the_deployment_sets_itself_are_refused(tmp_path: Path) -> None:
    folder = _project(tmp_path / "p")
    (folder / ".env").write_text("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:////tmp/x.db\nMINE=1\n")
    with pytest.raises(UsageError, match="AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: `dev` sets this itself"):
        session.inputs(session.DevOptions(folder), 3, Executor.LOCAL)


def test_a_setting_hidden_by_the_env_file_is_refused_without_its_value(tmp_path: Path) -> None:
    folder = _project(tmp_path / "p")
    (folder / ".env").write_text("AIRFLOW_VAR_TARGET=s3cr3t-value\n")
    (folder / "airflow_settings.yaml").write_text(
        "airflow:\n  variables:\n    - variable_name: target\n      variable_value: other-s3cr3t\n")
    with pytest.raises(UsageError) as refused:
        session.inputs(session.DevOptions(folder), 3, Executor.LOCAL)
    assert "would be hidden by AIRFLOW_VAR_TARGET" in str(refused.value)
    assert "s3cr3t" not in str(refused.value)


def test_a_missing_env_file_given_is_named(tmp_path: Path) -> None:
    folder = _project(tmp_path / "p")
    with pytest.raises(UsageError, match=r"--env-file .*nope.env: no such file"):
        session.inputs(session.DevOptions(folder, env_file=tmp_path / "nope.env"), 3, Executor.LOCAL)


def test_package_changes_name_every_move_addition_and_removal() -> None:
    before = {"apache-airflow": "2.11.0", "tabulate": "0.9.0", "gone": "1.0", "same": "1"}
    after = {"apache-airflow": "3.3.2", "tabulate": "0.9.0", "new": "2.0", "same": "1"}
    assert upgrade_test.package_changes(before, after) == [
        "apache-airflow: 2.11.0 -> 3.3.2", "gone: 1.0 -> (removed)", "new: (none) -> 2.0"]


def test_requirement_lines_drop_comments_and_blanks() -> None:
    text = "# pinned\n\ntabulate==0.9.0  # for tables\n  requests>=2\n#x==1\n"
    assert upgrade_test.requirement_lines(text) == ["tabulate==0.9.0", "requests>=2"]


def test_the_settings_become_the_variables_airflow_reads_first() -> None:
    found = checks.settings_environment(AirflowSettings(
        connections={"by_uri": {"uri": "postgres://u:p@h/db"},
                     "by_fields": {"conn_type": "http", "host": "example.org", "extra_dejson": {"a": 1}}},
        variables={"target": "value"}))
    assert found["AIRFLOW_VAR_TARGET"] == "value"
    assert found["AIRFLOW_CONN_BY_URI"] == "postgres://u:p@h/db"
    assert json.loads(found["AIRFLOW_CONN_BY_FIELDS"]) == {"conn_type": "http", "host": "example.org",
                                                            "extra": {"a": 1}}


@pytest.mark.parametrize(("argv", "component", "passed"), [
    (["dev", "exec", "scheduler", "--", "hostname", "-f"], "scheduler", ["hostname", "-f"]),
    (["dev", "exec", "--", "ls", "--", "-l"], None, ["ls", "--", "-l"]),  # the default component
    (["dev", "airflow", "dags", "list", "-o", "json"], None, ["dags", "list", "-o", "json"]),
    (["dev", "pytest", "-k", "passes", "-x"], None, ["-k", "passes", "-x"]),
    (["dev", "pytest", "--project", "p", "--", "--project", "x"], None, ["--project", "x"]),
])
def test_the_commands_that_pass_arguments_on_keep_them_whole(argv: list[str], component: str | None,
                                                               passed: list[str]) -> None:
    ours, after = split_passed(argv)
    arguments, extra = parser().parse_known_args(ours)
    assert getattr(arguments, "component", None) == component
    assert [*extra, *arguments.argv, *after] == passed


def test_every_dev_command_is_offered() -> None:
    for command in ("start", "restart", "stop", "kill", "ps", "logs", "bash", "exec", "airflow", "pytest",
                    "parse", "upgrade-test", "export", "import"):
        extra = ["--to", "14.2.1"] if command == "upgrade-test" else []
        arguments, _ = parser().parse_known_args(["dev", command, *extra])
        assert arguments.dev_command == command


def test_the_upgrade_test_keeps_a_python_the_from_line_chose_else_takes_the_targets_default() -> None:
    matrix = load_matrix(ROOT / "versions.yaml")
    old, new = matrix.release("12.1.1"), matrix.default_release()
    by_default = ProjectImage(old, old.python, Variant.ONBUILD, "")
    assert upgrade_test.target_python(by_default, new) == new.python
    chosen = next(p for p in old.pythons if p != old.python and p in new.pythons)
    assert upgrade_test.target_python(ProjectImage(old, chosen, Variant.ONBUILD, ""), new) == chosen


def test_the_service_images_go_together() -> None:
    arguments, _ = parser().parse_known_args(["dev", "start", "--postgres-image", "postgres:15-bookworm"])
    with pytest.raises(UsageError, match="--postgres-image and --redis-image go together"):
        commands._service_images(arguments)
    arguments, _ = parser().parse_known_args(["dev", "start", "--postgres-image", "p:1", "--redis-image", "r:1"])
    assert commands._service_images(arguments) == ServiceImages("p:1", "r:1")


def test_another_commands_double_dash_is_its_own() -> None:
    """`build.py test IMAGE -- -q -k x` (what publish runs) keeps its pytest arguments."""
    arguments = parse_arguments(["test", "--image", "airflow-runtime:14.2.1-python-3.13-base-amd64", "--", "-q",
                                 "-k", "test_labels"])
    assert arguments.command == "test" and arguments.pytest_args[-3:] == ["-q", "-k", "test_labels"]
    dev = parse_arguments(["dev", "exec", "--", "ls", "-l"])
    assert (dev.component, dev.argv) == (None, ["ls", "-l"])


def test_dev_components_do_not_wait_for_the_database_the_deployment_found_ready(tmp_path):
    """The session starts the components once PostgreSQL answered and was migrated, so the entry
    point's `airflow db check` loop (one more Airflow start per component) is off; a project's .env
    can still set it, and the dev intervals stay."""
    folder = _project(tmp_path / "p")
    images = ServiceImages("postgres:dev", "redis:dev")

    def spec(environment: dict[str, str]):
        return session.spec_for(session.DevOptions(folder), "airflow-runtime-project/p:14.3.0", "14.3.0", images,
                                Executor.LOCAL, 8080, 3, environment, AirflowSettings())

    assert spec({}).environment["CONNECTION_CHECK_MAX_COUNT"] == "0"
    assert spec({}).environment["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"] == "5"
    assert spec({"CONNECTION_CHECK_MAX_COUNT": "3"}).environment["CONNECTION_CHECK_MAX_COUNT"] == "3"
