#!/usr/bin/env bash
# The entry point of bootstrap's PostgreSQL image (Debian's own packages), with the contract of the
# official `postgres` image that Airflow's docker-compose quick start uses: POSTGRES_PASSWORD
# (required), POSTGRES_USER (default postgres), POSTGRES_DB (default the user), the cluster in
# PGDATA (default /var/lib/postgresql/data, a volume's place), made once, as UTF-8 (a container
# has no locale: initdb would choose SQL_ASCII, which Airflow's DAG serialization fails on);
# `postgres` listening on every address, with passwords (scram-sha-256) from other hosts; and
# `pg_isready` on PATH. Started as root it makes PGDATA the postgres user's, then runs as it.
set -euo pipefail
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [[ "${1:-}" == -* ]]; then
    set -- postgres "$@"
fi
if [[ "${1:-}" != postgres ]]; then
    exec "$@"
fi
if [[ "$(id -u)" == 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
        echo "error: the database has no password: set POSTGRES_PASSWORD" >&2
        exit 1
    fi
    user="${POSTGRES_USER:-postgres}"
    database="${POSTGRES_DB:-$user}"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    if [[ "$database" != postgres ]]; then
        printf 'CREATE DATABASE "%s" OWNER "%s";\n' "$database" "$user" \
            | postgres --single -D "$PGDATA" postgres >/dev/null
    fi
    echo "made the database cluster in $PGDATA: user $user, database $database"
fi
exec "$@"
