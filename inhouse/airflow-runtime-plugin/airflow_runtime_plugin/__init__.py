"""Airflow Runtime's own Airflow plugin: what a DAG's templates can ask about the image.

In a template: ``{{ macros.airflow_runtime.runtime_version() }}`` gives the Runtime version
of the image the task runs in (its AIRFLOW_RUNTIME_VERSION), or "" outside a Runtime image.
"""

from __future__ import annotations

import os

from airflow.plugins_manager import AirflowPlugin

__all__ = ["AirflowRuntimePlugin", "runtime_version"]


def runtime_version() -> str:
    """The Runtime version of this image, or "" when the variable is not set."""
    return os.environ.get("AIRFLOW_RUNTIME_VERSION", "")


class AirflowRuntimePlugin(AirflowPlugin):
    name = "airflow_runtime"
    macros = [runtime_version]  # noqa: RUF012 - Airflow reads plugins from class attributes
