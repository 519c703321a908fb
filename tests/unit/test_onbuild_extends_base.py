"""check_onbuild_extends_base: when an ONBUILD image's probed facts are its -base image's."""

from __future__ import annotations

import copy

from tests.image.checks import check_onbuild_extends_base

BASE = {"RootFS": {"Layers": ["sha256:floor", "sha256:venv", "sha256:home"]},
        "Config": {"Env": ["PATH=/opt/runtime/venv/bin:/usr/bin"], "User": "50000:0",
                   "Entrypoint": ["/usr/bin/tini", "--", "/opt/runtime/entrypoint"], "Cmd": ["airflow", "--help"],
                   "WorkingDir": "/usr/local/airflow", "Labels": {"org.opencontainers.image.title": "Airflow Runtime"}}}
BASE_HISTORY = ["LABEL org.opencontainers.image.title=Airflow Runtime", "CMD [\"airflow\" \"--help\"]",
                "COPY /tmp/airflow-home /usr/local/airflow # buildkit", "COPY /opt/runtime /opt/runtime # buildkit"]
ONBUILD = {"RootFS": {"Layers": [*BASE["RootFS"]["Layers"], "sha256:tools"]},
           "Config": {**BASE["Config"], "OnBuild": ["USER root"],
                      "Labels": {"org.opencontainers.image.title": "Airflow Runtime (onbuild)"}}}
ADDED = ["LABEL org.opencontainers.image.title=Airflow Runtime (onbuild)", "ARG BASE_IMAGE",
         "COPY onbuild-install.sh check_dags.py test-tools.txt /opt/runtime/onbuild/ # buildkit"]


def check(onbuild=ONBUILD, added=ADDED, base=BASE, base_history=BASE_HISTORY):
    return check_onbuild_extends_base(base, onbuild, base_history, [*added, *base_history])


def test_the_images_the_templates_make_extend_their_base() -> None:
    assert check() == []
    classic = ["/bin/sh -c #(nop)  LABEL a=b", "/bin/sh -c #(nop)  ONBUILD USER root",
               "/bin/sh -c #(nop) COPY multi:0123 in /opt/runtime/onbuild/ "]
    assert check(added=classic) == []


def test_another_layer_a_changed_setting_or_another_step_is_named() -> None:
    other = copy.deepcopy(ONBUILD)
    other["RootFS"]["Layers"] = ["sha256:floor", "sha256:other-venv", "sha256:home", "sha256:tools"]
    assert any("the first 1 the base's" in p for p in check(onbuild=other))

    more = copy.deepcopy(ONBUILD)
    more["RootFS"]["Layers"].append("sha256:more")
    assert any("it has 5" in p for p in check(onbuild=more))

    env = copy.deepcopy(ONBUILD)
    env["Config"]["Env"] = [*BASE["Config"]["Env"], "PYTHONPATH=/opt/runtime/onbuild"]
    assert any(p.startswith("Env is") for p in check(onbuild=env))

    user = copy.deepcopy(ONBUILD)
    user["Config"]["User"] = "root"
    assert any("User is 'root'" in p for p in check(onbuild=user))

    run = ["RUN /bin/sh -c pip install something # buildkit", *ADDED]
    assert any("a step other than metadata" in p and "pip install" in p for p in check(added=run))

    elsewhere = [*ADDED[:2], "COPY onbuild-install.sh /opt/runtime/venv/bin/ # buildkit"]
    problems = check(added=elsewhere)
    assert any("/opt/runtime/venv/bin/" in p for p in problems) and any("0 copies" in p for p in problems)


def test_a_history_that_does_not_continue_the_base_is_refused() -> None:
    assert check_onbuild_extends_base(BASE, ONBUILD, BASE_HISTORY, [*ADDED, *BASE_HISTORY[1:]]) == [
        "its history does not continue the -base image's"]
    assert "its history does not continue the -base image's" in check_onbuild_extends_base(
        BASE, ONBUILD, BASE_HISTORY, BASE_HISTORY)
