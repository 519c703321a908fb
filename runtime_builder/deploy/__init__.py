"""Run Runtime images the way Airflow is deployed: a metadata database, a broker, one container
per component, all on their own Docker network.

- `config`: what a deployment is made of and the configuration it supplies (pure);
- `services`: the PostgreSQL and Redis images, made from Debian's packages;
- `deployment`: starts, checks and removes one deployment through the Docker SDK;
- `api`: Airflow's REST API, as a user or a test talks to it;
- `project`: builds a project folder on a Runtime ONBUILD image (`build.py run`).
"""
