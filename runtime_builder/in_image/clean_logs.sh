#!/usr/bin/env bash
# /clean-logs of the Runtime images from the `airflow-image-contract` change on: the log groomer of
# Apache Airflow's image, which its Helm chart runs beside the scheduler, the DAG processor, the
# triggerer and the workers (`bash /clean-logs`). It runs until it is stopped; every
# AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES (default 15) it removes from $AIRFLOW_HOME/logs the `*.log`
# files older than AIRFLOW__LOG_RETENTION_DAYS (default 15) days and AIRFLOW__LOG_RETENTION_MINUTES
# (default 0) minutes, then the folders left empty (the logs folder itself stays). With
# AIRFLOW__LOG_MAX_SIZE_BYTES, or AIRFLOW__LOG_MAX_SIZE_PERCENT of the logs' file system, it also
# keeps one day less at a time while the logs take more than that. SIGTERM or SIGINT ends it at
# once, also while it waits.
set -euo pipefail

number() {  # the variable's value, a whole number >= 0, or its default
    local name=$1 default=$2 value
    value=${!name:-$default}
    if ! [[ "$value" =~ ^[0-9]+$ ]]; then
        echo "clean-logs: error: $name=$value is not a whole number of 0 or more" >&2
        exit 2
    fi
    echo "$value"
}

LOGS="${AIRFLOW_HOME:-/usr/local/airflow}/logs"
RETENTION_DAYS=$(number AIRFLOW__LOG_RETENTION_DAYS 15)
RETENTION_MINUTES=$(number AIRFLOW__LOG_RETENTION_MINUTES 0)
FREQUENCY_MINUTES=$(number AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES 15)
MAX_SIZE_BYTES=$(number AIRFLOW__LOG_MAX_SIZE_BYTES 0)
MAX_SIZE_PERCENT=$(number AIRFLOW__LOG_MAX_SIZE_PERCENT 0)
if (( FREQUENCY_MINUTES == 0 )); then
    echo "clean-logs: error: AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES must be 1 or more" >&2
    exit 2
fi
EVERY=$(( FREQUENCY_MINUTES * 60 ))

trap 'exit 0' INT TERM

if (( MAX_SIZE_BYTES == 0 && MAX_SIZE_PERCENT > 0 )) && [[ -d "$LOGS" ]]; then
    MAX_SIZE_BYTES=$(( $(df -Pk "$LOGS" | awk 'NR == 2 {print $2}') * 1024 * MAX_SIZE_PERCENT / 100 ))
fi

trim() {  # remove the *.log files older than $1 minutes (lost+found is left alone)
    find "$LOGS" -type d -name 'lost+found' -prune -o -type f -name '*.log' -mmin +"$1" -print0 \
        | xargs -0 --no-run-if-empty rm -f -- || true
}

limit=""
(( MAX_SIZE_BYTES == 0 )) || limit=" and at most $MAX_SIZE_BYTES bytes"
echo "clean-logs: trimming $LOGS every $FREQUENCY_MINUTES minutes to $RETENTION_DAYS days" \
     "$RETENTION_MINUTES minutes$limit"
while true; do
    if [[ -d "$LOGS" ]]; then
        days=$RETENTION_DAYS
        while true; do
            trim $(( days * 1440 + RETENTION_MINUTES ))
            (( MAX_SIZE_BYTES > 0 && days > 0 )) || break
            used=$(du -sb "$LOGS" | cut -f1)
            (( used > MAX_SIZE_BYTES )) || break
            days=$(( days - 1 ))
            echo "clean-logs: the logs take $used bytes, over $MAX_SIZE_BYTES: keeping $days days"
        done
        find "$LOGS" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    fi
    # Wake at the next multiple of the period (every 15 minutes: at :00, :15, :30, :45), in the
    # background so that a signal ends the wait at once.
    sleep $(( EVERY - $(date -u +%s) % EVERY )) &
    wait $!
done
