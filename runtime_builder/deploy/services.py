"""The services beside Airflow: PostgreSQL (metadata database, Celery results) and Redis (broker).

Their images are made from Debian's own `postgresql` and `redis-server` packages by
`bootstrap.services`, like the Python bases, and referenced by digest: no registry has to be
reachable. Debian 12 ships PostgreSQL 15 and Redis 7.0, versions Airflow supports and its
docker-compose file uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..images import bootstrap
from ..images.engine import Engine
from .config import DATABASE, DATABASE_USER

SUITE = "bookworm"
# The volume holds the postgres user's home (owned by it in the image, so a new volume is too);
# the cluster lives in a folder of it.
DATA_VOLUME_PATH = "/var/lib/postgresql"
PGDATA = f"{DATA_VOLUME_PATH}/data"

# Runs as the postgres user: a new cluster on first start (the password comes from the
# environment, never from argv), reachable from the deployment's network with a password.
# UTF-8 explicitly: a minimal container has no locale, and initdb would pick SQL_ASCII, which
# makes psycopg2 fail on the first non-ASCII text (a DAG's doc, a log line).
POSTGRES_SCRIPT = f"""\
set -euo pipefail
bin=$(echo /usr/lib/postgresql/*/bin)
export PGDATA={PGDATA}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    printf '%s\\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
    "$bin/initdb" --username={DATABASE_USER} --pwfile=/tmp/pwfile --auth-local=trust \\
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm /tmp/pwfile
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE {DATABASE} OWNER {DATABASE_USER};" | "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null
fi
exec "$bin/postgres" -c listen_addresses='*' -c unix_socket_directories=/tmp
"""
POSTGRES_READY = ("bash", "-c", f"$(echo /usr/lib/postgresql/*/bin)/pg_isready -q -h 127.0.0.1 "
                                f"-U {DATABASE_USER} -d {DATABASE}")


def psql(query: str) -> list[str]:
    """argv (run as the postgres user in the PostgreSQL container) printing the query's rows on
    the metadata database, tab-separated; the query is an argument, never part of a script."""
    script = (f'"$(echo /usr/lib/postgresql/*/bin)/psql" -h /tmp -U {DATABASE_USER} -d {DATABASE} -At '
              '-F "$(printf \'\\t\')" -c "$1"')
    return ["bash", "-c", script, "psql", query]


# Listening on the deployment's own network only (no port is published to the host), and with a
# password of the deployment's own: a container on another network the host joins it to, or
# a process with the network's address, cannot read or queue tasks without it.
REDIS_READY = ("redis-cli", "ping")  # with REDISCLI_AUTH set to the password (`redis_auth`)


def redis_command(password: str) -> tuple[str, ...]:
    return ("redis-server", "--bind", "0.0.0.0", "--protected-mode", "no",  # noqa: S104
            "--save", "", "--appendonly", "no", "--requirepass", password)


def redis_auth(password: str) -> dict[str, str]:
    """The environment redis-cli reads the password from (never its command line)."""
    return {"REDISCLI_AUTH": password}


@dataclass(frozen=True)
class ServiceImages:
    postgres: str  # references by digest
    redis: str


def ensure_images(engine: Engine, registry: str, workdir: Path) -> ServiceImages:
    """The service images by digest, made (once per host) if the local registry lacks them."""
    found = bootstrap.services(suite=SUITE, registry=registry, engine=engine, workdir=workdir)
    return ServiceImages(postgres=found["postgres"], redis=found["redis"])
