"""One task and nothing else: the deployment benchmark times a trigger to its success."""

from __future__ import annotations

from datetime import datetime, timezone

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

with DAG(
    dag_id="runtime_one_task",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 - Python 3.9 too
    catchup=False,
    is_paused_upon_creation=False,
    tags=["deploy-check"],
):
    BashOperator(task_id="only", bash_command="echo one task")
