"""The project's tests, as users write them: every DAG loads, and has what it should."""

try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3.1 and later
except ImportError:
    from airflow.models.dagbag import DagBag


def test_dags_load_without_errors():
    bag = DagBag(dag_folder="dags")
    assert bag.import_errors == {}
    assert "project_hello" in bag.dag_ids


def test_hello_has_its_task():
    bag = DagBag(dag_folder="dags")
    assert [task.task_id for task in bag.get_dag("project_hello").tasks] == ["hello"]
