"""One triggered run exercises a whole deployment: the workers run a bash and a Python task
(with a package from the project's requirements.txt), the triggerer resumes a deferred sensor,
and a task talks to PostgreSQL through the Postgres provider's hook."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta, timezone

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
    from airflow.sdk import DAG, task

    def deferred_wait(task_id: str, seconds: int):
        return TimeDeltaSensor(task_id=task_id, delta=timedelta(seconds=seconds), deferrable=True)
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.decorators import task
    from airflow.operators.bash import BashOperator
    from airflow.sensors.time_delta import TimeDeltaSensorAsync

    def deferred_wait(task_id: str, seconds: int):
        return TimeDeltaSensorAsync(task_id=task_id, delta=timedelta(seconds=seconds))


with DAG(
    dag_id="runtime_deploy_check",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 - Python 3.9 too
    catchup=False,
    is_paused_upon_creation=False,
    tags=["deploy-check"],
):
    hello = BashOperator(task_id="bash", bash_command='echo "bash task on $(hostname)"')

    @task(task_id="requirements")
    def requirements() -> str:
        import cowsay  # from requirements.txt

        text = cowsay.get_output_string("cow", f"python task on {socket.gethostname()}")
        print(text)
        return socket.gethostname()

    wait = deferred_wait("deferred", 5)

    @task(task_id="postgres")
    def postgres() -> int:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        # postgres_default: a deployment of the Runtime points it at its own PostgreSQL.
        value = PostgresHook().get_first("SELECT 40 + 2")[0]
        print(f"postgres answered {value}")
        return value

    hello >> requirements() >> wait >> postgres()
