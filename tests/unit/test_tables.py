"""The reference tables' rows (tables.py), which templates/reference/*.j2 render."""

from __future__ import annotations

from runtime_builder.generate.tables import environment_rows, reference_context

from .support import edit, fixture_text, load_text, release


def test_environment_rows_compress_consecutive_versions_into_runs(matrix):
    assert environment_rows(matrix) == [
        {"name": "AIRFLOW__CORE__LINE", "value": "14", "versions": "14.0.0 – 14.1.0"},
        {"name": "AIRFLOW__CORE__MODE", "value": "patched", "versions": "14.0.1"},
        {"name": "AIRFLOW__CORE__MODE", "value": "three", "versions": "14.0.0, 14.0.2 – 14.1.0"},
        {"name": "AIRFLOW__CORE__MODE", "value": "two", "versions": "11.0.0 – 11.1.0"},
        {"name": "AIRFLOW__SCHEDULER__INTERVAL", "value": "30", "versions": "11.0.0 – 14.1.0"},
    ]


def test_environment_runs_are_split_by_a_gap(tmp_path):
    def gap(doc):
        release(doc, "11.1.0")["environment"] = {"AIRFLOW__SCHEDULER__INTERVAL": "60"}

    rows = environment_rows(load_text(tmp_path, edit(gap)(fixture_text())))
    assert {"name": "AIRFLOW__SCHEDULER__INTERVAL", "value": "30", "versions": "11.0.0, 14.0.0 – 14.1.0"} in rows
    assert {"name": "AIRFLOW__SCHEDULER__INTERVAL", "value": "60", "versions": "11.1.0"} in rows


def test_reference_rows_list_the_newest_release_first(matrix):
    context = reference_context(matrix)
    assert [row["runtime"] for row in context["parity"]] == ["14.1.0", "14.0.2", "14.0.1", "14.0.0", "11.1.0", "11.0.0"]
    assert context["parity"][1] == {
        "runtime": "14.0.2", "airflow": "3.3.2", "channel": "stable", "released": "2026-11-01",
        "end_of_maintenance": "2028-09-30", "end_of_basic_support": "2029-03-31", "yanked": "scheduler crash",
    }
    assert context["pythons"][-1] == {"runtime": "11.0.0", "default": "3.11", "supported": "3.9, 3.11"}
    assert context["platforms"][-1]["architectures"] == "linux/amd64, linux/arm64"
    assert context["packages"][0]["packages"] == (
        "apache-airflow-providers-celery==3.15.0, apache-airflow-providers-fab==2.0.1"
    )


def test_reference_tag_rows_cover_every_image(matrix):
    rows = reference_context(matrix)["tags"]
    assert len(rows) == 2 * 2 * 2 + 4 * 3 * 2
    assert {"runtime": "14.0.2", "python": "3.13", "variant": "onbuild",
            "tags": "`14.0.2`, `14.0.2-python-3.13`"} in rows
