"""Scheduled every minute and on from its first parse: the scheduler starts its runs by itself."""

from __future__ import annotations

from datetime import datetime, timezone

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

with DAG(
    dag_id="runtime_every_minute",
    schedule="* * * * *",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 - Python 3.9 too
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    tags=["deploy-check"],
):
    BashOperator(task_id="tick", bash_command='echo "scheduled run on $(hostname)"')
