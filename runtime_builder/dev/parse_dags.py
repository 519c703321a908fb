"""Import every DAG file of a project the way the image's deploy-time check does (Airflow's DagBag,
without the examples), in a container of the project's image: `python parse_dags.py DAGS_FOLDER`.

Unlike that check, a DAG file that reads a Variable or a connection when it is imported does not
fail here for want of a database: the look-up is answered from the environment when it can be (the
project's .env and airflow_settings.yaml are given to the container as AIRFLOW_VAR_* and
AIRFLOW_CONN_* variables), and otherwise with a placeholder (the default it names, `{}` for JSON, a
placeholder text or connection), which is reported beside the file. The `astro dev parse` way.

It runs on the image's own Python and Airflow (2.10 and later): no syntax newer than 3.9, and
imports that differ between Airflow 2 and 3 are each tried.
"""

from __future__ import annotations

import os
import sys
import traceback

PLACEHOLDER = "parse-placeholder"
_MISSING = object()
looked_up: list[tuple[str, str, str]] = []  # (DAG file, kind, key) answered with a placeholder
_folder = ""


def _caller() -> str:
    """The DAG file (under the folder being parsed) whose import made the look-up."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if _folder and os.path.abspath(name).startswith(_folder + os.sep):
            return os.path.relpath(name, os.path.dirname(_folder))
        frame = frame.f_back
    return "?"


def _variable_get(original):
    def get(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except Exception:
            key = args[0] if args else kwargs.get("key", "?")
            default = kwargs.get("default_var", kwargs.get("default", args[1] if len(args) > 1 else _MISSING))
            if default is not _MISSING and default is not None:
                return default
            looked_up.append((_caller(), "Variable", str(key)))
            as_json = kwargs.get("deserialize_json", args[2] if len(args) > 2 else False)
            return {} if as_json else f"{PLACEHOLDER}-{key}"
    return staticmethod(get)


def _connection_get(original, connection_class):
    def get(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except Exception:
            conn_id = args[0] if args else kwargs.get("conn_id", "?")
            looked_up.append((_caller(), "connection", str(conn_id)))
            return connection_class(conn_id=str(conn_id), conn_type="generic", host=PLACEHOLDER)
    return staticmethod(get)


def _patch() -> None:
    import importlib
    import warnings

    def each(paths):
        for module_name, class_name in paths:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the old import paths are tried on purpose
                try:
                    found = getattr(importlib.import_module(module_name), class_name)
                except (ImportError, AttributeError):
                    continue
            yield found

    for variable in each([("airflow.models.variable", "Variable"), ("airflow.sdk", "Variable"),
                          ("airflow.sdk.definitions.variable", "Variable")]):
        variable.get = _variable_get(variable.get)
    connection_class = next(each([("airflow.sdk", "Connection"), ("airflow.models.connection", "Connection")]))
    for hook in each([("airflow.hooks.base", "BaseHook"), ("airflow.sdk", "BaseHook"),
                      ("airflow.sdk.bases.hook", "BaseHook")]):
        hook.get_connection = _connection_get(hook.get_connection, connection_class)
    for connection in each([("airflow.sdk", "Connection"), ("airflow.sdk.definitions.connection", "Connection")]):
        if hasattr(connection, "get"):
            connection.get = _connection_get(connection.get, connection_class)


def main(folder: str) -> int:
    global _folder
    _folder = os.path.abspath(folder)
    _patch()
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2 and later
    except ImportError:
        from airflow.models.dagbag import DagBag
    try:
        dagbag = DagBag(dag_folder=folder)  # without the examples: AIRFLOW__CORE__LOAD_EXAMPLES=False
    except Exception:
        traceback.print_exc()
        return 2
    for path, error in sorted(dagbag.import_errors.items()):
        print(f"DAG import error in {os.path.relpath(path, os.path.dirname(_folder))}:\n{error}", file=sys.stderr)
    for where, kind, key in sorted(set(looked_up)):
        print(f"{where}: reads {kind} {key!r} when imported; parse answered with a placeholder (a deployment needs "
              f"it: .env or airflow_settings.yaml)")
    files = len({dag.fileloc for dag in dagbag.dags.values()})
    if dagbag.import_errors:
        print(f"{len(dagbag.import_errors)} DAG file(s) failed to import; {len(dagbag.dag_ids)} DAG(s) from {files} "
              "file(s) imported", file=sys.stderr)
        return 1
    print(f"{len(dagbag.dag_ids)} DAG(s) from {files} file(s) import cleanly: {', '.join(sorted(dagbag.dag_ids))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
