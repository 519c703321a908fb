"""A DAG file with a mistake a user makes: it names an operator module that does not exist."""

from datetime import datetime

from airflow import DAG
from airflow.operators.no_such_module import NoSuchOperator

with DAG(dag_id="broken", schedule=None, start_date=datetime(2024, 1, 1)):
    NoSuchOperator(task_id="never")
