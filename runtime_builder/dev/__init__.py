"""The local development loop, `build.py dev ...`: a project's deployment that lives while you work
on it (start, stop, restart, kill), its code mounted so an edited DAG needs no rebuild, and the
tools around it (ps, logs, bash, airflow, pytest, parse, upgrade-test, export, import), as the
Astro CLI's `astro dev` gives them.
"""
