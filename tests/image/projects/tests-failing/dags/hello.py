"""A DAG the project's own tests check."""

from datetime import datetime, timezone

try:
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

with DAG(dag_id="project_hello", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)):  # noqa: UP017 - Python 3.9 too
    BashOperator(task_id="hello", bash_command="echo hello")
