"""Airflow Runtime's guard of its monitoring DAG, as an Airflow plugin of the API server (Airflow
3.1 and later, whose plugins may add middlewares).

The runtime_monitoring DAG cannot be paused through the API or the UI, a pause made otherwise is
undone, and its health (monitoring.py) is in `/api/v2/monitor/health` and, when it fails, on the
dashboard (guard.py).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from .guard import RuntimeGuard

__all__ = ["MonitoringPlugin"]


class MonitoringPlugin(AirflowPlugin):
    name = "airflow_runtime_monitoring"
    fastapi_root_middlewares = [  # noqa: RUF012 - Airflow reads plugins from class attributes
        {"middleware": RuntimeGuard, "args": [], "kwargs": {}, "name": "airflow-runtime monitoring guard"},
    ]
