"""What Apache Airflow's official Helm chart runs in the Airflow image, with its default values
(`airflowHome: /opt/airflow`, CeleryExecutor, Airflow 3): every container's arguments, probe,
environment and mounts, each with the chart template it comes from (chart/templates/..., chart
1.19-1.22). A cluster cannot run here, so tests/deploy/test_chart.py runs them as Compose services
(`compose_file`), a pod's containers sharing its volumes, and runs each probe in its container as
the kubelet would (`docker exec`). Pure data and a pure function."""

from __future__ import annotations

from dataclasses import dataclass, field

HOME = "/opt/airflow"  # the chart's airflowHome
RELEASE = "runtime"  # the Helm release's name: the chart's objects are named after it
NAMESPACE = "airflow"
POD_TEMPLATE = f"{HOME}/pod_templates/pod_template_file.yaml"
PROBE_PREFIX = "CONNECTION_CHECK_MAX_COUNT=0 AIRFLOW__LOGGING__LOGGING_LEVEL=ERROR exec /entrypoint \\\n"
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"


@dataclass(frozen=True)
class Probe:
    kind: str  # liveness, startup
    argv: tuple[str, ...]  # an exec probe's command, run in the container (not through the ENTRYPOINT)
    timeout: int  # the probe's timeoutSeconds


@dataclass(frozen=True)
class Container:
    name: str  # also the Compose service's name
    template: str  # under chart/templates/
    args: tuple[str, ...]  # given to the image's ENTRYPOINT (the chart sets `args`, not `command`)
    pod: str  # containers of one pod share its volumes (and wait for its init containers)
    kind: str = "component"  # component (runs on), sidecar (runs on), init (runs to its end first), job
    command: tuple[str, ...] | None = None  # a `command:` replaces the ENTRYPOINT (database cleanup)
    environment: dict[str, str] = field(default_factory=dict)  # beside the chart's standard environment
    standard_environment: bool = True  # the log groomers get only their own variables
    probes: tuple[Probe, ...] = ()
    jwt: bool = False  # gets AIRFLOW__API_AUTH__JWT_SECRET (IncludeJwtSecret in the chart's helper)
    config: bool = True  # airflow.cfg and airflow_local_settings.py mounted (airflow_config_mount)


def _job_check(job: str) -> tuple[str, ...]:
    return ("sh", "-c", f"{PROBE_PREFIX}airflow jobs check --job-type {job} --local\n")


LOG_GROOMER_ENV = {"AIRFLOW_HOME": HOME, "AIRFLOW__LOG_RETENTION_DAYS": "15",
                   "AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES": "15"}
WAIT_FOR_MIGRATIONS = ("airflow", "db", "check-migrations", "--migration-wait-timeout=60")  # _helpers.yaml


def _pod(pod: str, template: str, main: Container, groomer: bool = True) -> list[Container]:
    """A component's pod: its wait-for-airflow-migrations init container, itself, its log groomer."""
    found = [Container(f"{pod}-wait-for-airflow-migrations", "_helpers.yaml (wait_for_airflow_migrations_container)",
                       WAIT_FOR_MIGRATIONS, pod, kind="init"), main]
    if groomer:
        found.append(Container(f"{pod}-log-groomer", template, ("bash", "/clean-logs"), pod, kind="sidecar",
                               environment=LOG_GROOMER_ENV, standard_environment=False, config=False))
    return found


CONTAINERS: tuple[Container, ...] = (
    Container("run-airflow-migrations", "jobs/migrate-database-job.yaml", ("bash", "-c", "exec \\\nairflow db migrate"),
              "migrate", kind="job", environment={"PYTHONUNBUFFERED": "1"}),
    Container("create-user", "jobs/create-user-job.yaml",
              ("bash", "-c", 'exec \\\nairflow users create "$@"', "--", "-r", "Admin", "-u", "admin", "-e",
               "admin@example.com", "-f", "admin", "-l", "user", "-p", "admin"), "create-user", kind="job"),
    *_pod("scheduler", "scheduler/scheduler-deployment.yaml", Container(
        "scheduler", "scheduler/scheduler-deployment.yaml", ("bash", "-c", "exec airflow scheduler"), "scheduler",
        probes=(Probe("liveness", _job_check("SchedulerJob"), 20), Probe("startup", _job_check("SchedulerJob"), 20)),
        jwt=True)),
    *_pod("api-server", "api-server/api-server-deployment.yaml", Container(
        "api-server", "api-server/api-server-deployment.yaml", ("bash", "-c", "exec airflow api-server"),
        "api-server", jwt=True,
        # httpGet /api/v2/monitor/health on port 8080 (liveness, readiness, startup): from the host here.
    ), groomer=False),
    *_pod("dag-processor", "dag-processor/dag-processor-deployment.yaml", Container(
        "dag-processor", "dag-processor/dag-processor-deployment.yaml", ("bash", "-c", "exec airflow dag-processor"),
        "dag-processor", probes=(Probe("liveness", ("sh", "-c", f"{PROBE_PREFIX}airflow jobs check --local "
                                                                 "--job-type DagProcessorJob\n"), 20),))),
    *_pod("triggerer", "triggerer/triggerer-deployment.yaml", Container(
        "triggerer", "triggerer/triggerer-deployment.yaml", ("bash", "-c", "exec airflow triggerer"), "triggerer",
        probes=(Probe("liveness", _job_check("TriggererJob"), 20),))),
    *_pod("worker", "workers/worker-deployment.yaml", Container(
        "worker", "workers/worker-deployment.yaml", ("bash", "-c", "exec \\\nairflow celery worker"), "worker",
        environment={"DUMB_INIT_SETSID": "0"},
        probes=(Probe("liveness", ("sh", "-c", f"CONNECTION_CHECK_MAX_COUNT=0 exec /entrypoint python -m celery --app "
                                               f"{CELERY_APP} inspect ping -d celery@$(hostname)"), 20),
                # chart 1.22.0 (PR #67471) asks Python for the host name instead of hostname(1)
                Probe("liveness", ("sh", "-c", f"CONNECTION_CHECK_MAX_COUNT=0 exec /entrypoint python -m celery --app "
                                               f"{CELERY_APP} inspect ping -d celery@$(python -c 'import socket; "
                                               "print(socket.gethostname())')"), 20)))),
    Container("flower", "flower/flower-deployment.yaml", ("bash", "-c", "exec \\\nairflow celery flower"), "flower",
              probes=(Probe("liveness", ("curl", "localhost:5555"), 5),
                      Probe("startup", ("curl", "localhost:5555"), 20))),
    # The cleanup CronJob's command needs a cluster's API; its reach into the image is checked with --help.
    Container("airflow-cleanup-pods", "cleanup/cleanup-cronjob.yaml",
              ("bash", "-c", f"exec airflow kubernetes cleanup-pods --namespace={NAMESPACE} --help"), "cleanup",
              kind="job"),
    Container("database-cleanup", "database-cleanup/database-cleanup-cronjob.yaml",
              ("-c", 'CLEAN_TS=$(date -d "-90 days" +"%Y-%m-%dT%H:%M:%S"); echo "Cleaning up metadata DB entries '
                     'older than ${CLEAN_TS}"; exec airflow db clean --clean-before-timestamp "${CLEAN_TS}" --yes '
                     '--verbose'), "database-cleanup", kind="job", command=("bash",)),
)


def airflow_cfg(api_server: str, image_repository: str, image_tag: str) -> str:
    """The airflow.cfg the chart renders from its default `config:` (configmaps/configmap.yaml)."""
    return f"""\
[celery]
flower_url_prefix =
sync_parallelism = 0
worker_concurrency = 16

[celery_kubernetes_executor]
kubernetes_queue = kubernetes

[core]
auth_manager = airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager
dags_folder = {HOME}/dags
execution_api_server_url = http://{api_server}:8080/execution/
executor = CeleryExecutor
load_examples = False

[elasticsearch]
json_format = True
log_id_template = {{dag_id}}-{{task_id}}-{{run_id}}-{{map_index}}-{{try_number}}

[elasticsearch_configs]
max_retries = 3
retry_timeout = True
timeout = 30

[fab]
enable_proxy_fix = True

[kerberos]
ccache = /var/kerberos-ccache/cache
keytab = /etc/airflow.keytab
principal = airflow@FOO.COM
reinit_frequency = 3600

[kubernetes_executor]
multi_namespace_mode = False
namespace = {NAMESPACE}
pod_template_file = {POD_TEMPLATE}
worker_container_repository = {image_repository}
worker_container_tag = {image_tag}

[logging]
colored_console_log = False
remote_logging = False

[metrics]
statsd_host = {RELEASE}-statsd
statsd_on = True
statsd_port = 9125
statsd_prefix = airflow

[scheduler]
standalone_dag_processor = True

[webserver]
enable_proxy_fix = True
"""


def pod_template(image: str) -> str:
    """The KubernetesExecutor's pod template (files/pod-template-file.kubernetes-helm-yaml), rendered."""
    return f"""\
apiVersion: v1
kind: Pod
metadata:
  name: placeholder-name
  labels:
    tier: airflow
    component: worker
    release: {RELEASE}
spec:
  containers:
    - envFrom: []
      env:
        - name: AIRFLOW__CORE__EXECUTOR
          value: "KubernetesExecutor"
        - name: AIRFLOW_HOME
          value: {HOME}
      image: {image}
      imagePullPolicy: IfNotPresent
      securityContext:
        allowPrivilegeEscalation: false
        capabilities:
          drop:
            - ALL
      name: base
      resources: {{}}
      volumeMounts:
        - mountPath: "{HOME}/logs"
          name: logs
        - name: config
          mountPath: "{HOME}/airflow.cfg"
          subPath: airflow.cfg
          readOnly: true
  restartPolicy: Never
  securityContext:
    runAsUser: 50000
    fsGroup: 0
  terminationGracePeriodSeconds: 600
  serviceAccountName: "{RELEASE}-airflow-worker"
  volumes:
    - emptyDir: {{}}
      name: logs
    - configMap:
        name: {RELEASE}-config
      name: config
"""
