#!/usr/bin/env bash
# The entry point of bootstrap's Redis image (Debian's own packages), with the contract of the
# official `redis` image that Airflow's docker-compose quick start uses: `redis-server` by default,
# listening on every address without protected mode (the container's network is its boundary;
# give `--requirepass` to want a password), `redis-cli` on PATH. Started as root it runs as the
# redis user.
set -euo pipefail

if [[ "${1:-}" == -* || -z "${1:-}" ]]; then
    set -- redis-server "$@"
fi
if [[ "$1" == redis-server && "$(id -u)" == 0 ]]; then
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [[ "$1" == redis-server ]]; then
    shift
    # Debian's package configures a daemon (a pid file, a log file): a container's runs in the
    # foreground and logs to stdout.
    exec redis-server --bind "* -::*" --protected-mode no --daemonize no --logfile "" --dir /var/lib/redis "$@"
fi
exec "$@"
