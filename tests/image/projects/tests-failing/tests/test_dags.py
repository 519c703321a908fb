"""A project test that fails: the build must fail with pytest's summary."""


def test_the_project_expects_a_dag_it_does_not_have():
    assert "project_goodbye" in ["project_hello"], "project_goodbye is missing"
