"""A user's DAG: a bash task and a Python task using what packages.txt and requirements.txt
installed. Each writes a marker file that the test reads after `airflow dags test`."""

import subprocess
from datetime import datetime, timezone
from pathlib import Path

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task
    from airflow.operators.bash import BashOperator

MARKERS = Path("/tmp/runtime-test-markers")


@dag(dag_id="runtime_test_project", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 - Python 3.9 too
     catchup=False, tags=["runtime-test"])
def runtime_test_project():
    bash = BashOperator(
        task_id="bash_uses_jq",
        bash_command=f'mkdir -p {MARKERS} && echo \'{{"ok": true}}\' | jq -c . > {MARKERS}/bash.json',
    )

    @task
    def python_uses_requirement():
        import importlib.metadata

        import pyjokes

        assert pyjokes.get_joke()
        jq = subprocess.run(["jq", "--version"], capture_output=True, text=True, check=True).stdout.strip()
        MARKERS.mkdir(exist_ok=True)
        (MARKERS / "python.txt").write_text(f"pyjokes {importlib.metadata.version('pyjokes')} {jq}\n")

    bash >> python_uses_requirement()


runtime_test_project()
