"""Collect the facts the image tests compare against the matrix, in one Python process.

This file is not imported by the builder: the image tests pipe it into a container,

    docker run --rm -i --entrypoint python IMAGE - '<request JSON>' < probe.py

and read the one JSON document it prints. Under QEMU every `import airflow` costs about a
minute and a half, so everything that needs Airflow is gathered here at once, and the few
other programs it needs (pip) run in parallel with it. Standard library only (plus Airflow,
imported from the image's own venv); it must run on every Python the matrix ships.

The request names the sections to collect (see SECTIONS) and what they need:
    config            [[section, key], ...] options to read through Airflow's configuration
    override          [section, key, value]: set that option's variable and read it again
    other_airflow     a version pip must refuse to install (the constraint's test)
    schedule_override a cron expression for AIRFLOW_MONITORING_DAG_SCHEDULE_INTERVAL
    monitoring_dag    the DAG id of the monitoring DAG
    secrets           {name: [size, sha256]} of files a build had as secrets; none may be in the image
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import importlib
import importlib.metadata
import io
import json
import os
import platform
import re
import subprocess
import sys
import sysconfig
import time
import traceback

SECTIONS = ("identity", "distributions", "pip", "airflow", "dags", "filesystem")
COMPILERS = ("gcc", "cc", "g++", "c++", "clang", "clang++", "gcc-[0-9]*", "g++-[0-9]*", "*-linux-gnu-gcc*",
             "*-linux-gnu-g++*", "clang-[0-9]*", "tcc")
CACHE_NAMES = ("pip", "uv", "pypoetry", "pip-tools")
SKIP_TREES = ("/proc", "/sys", "/dev")
OUTPUT_LIMIT = 4000
MARKER = "RUNTIME-PROBE-FACTS "


def canonical(name: str) -> str:
    """PEP 503 normalization, as packaging.utils.canonicalize_name does it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(error), error)).strip()


def site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


# -- identity ------------------------------------------------------------------------------

def identity() -> dict:
    import pwd

    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = None
    return {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "machine": platform.machine(),
        "uid": uid,
        "gid": os.getgid(),
        "groups": sorted(os.getgroups()),
        "user": user,
        "cwd": os.getcwd(),
        "environment": dict(os.environ),
    }


# -- distributions ---------------------------------------------------------------------------

def distributions(request: dict) -> dict:
    """Every distribution of the venv: version, files its RECORD lists that are gone, the
    backport patches it records; and the text of the files `patched_files` names.

    RECORD is read as plain text, not through `Distribution.files`: under QEMU the path
    objects for some 30,000 files cost minutes.
    """
    root = site_packages()
    found: dict[str, list[dict]] = {}
    for entry in sorted(os.listdir(root)):
        if not entry.endswith(".dist-info"):
            continue
        path = os.path.join(root, entry)
        metadata = _headers(os.path.join(path, "METADATA"))
        name, version = metadata.get("name"), metadata.get("version")
        missing = []
        try:
            with open(os.path.join(path, "RECORD"), encoding="utf-8") as file:
                for line in file:
                    listed = line.rsplit(",", 2)[0].strip('"')
                    if listed and not os.path.lexists(os.path.join(root, listed)):
                        missing.append(listed)
        except OSError:
            missing.append("RECORD")
        found.setdefault(canonical(name) if name else f"<no name: {entry}>", []).append({
            "version": version,
            "path": path,
            "missing_files": len(missing),
            "missing_examples": missing[:5],
            "runtime_patches": _lines_of(os.path.join(path, "RUNTIME_PATCHES")),
        })
    patched = {name: _read(os.path.join(root, name)) if os.path.isfile(os.path.join(root, name)) else None
               for name in request.get("patched_files", [])}
    return {"site_packages": root, "distributions": found, "patched_files": patched}


def _lines_of(path: str) -> list[str]:
    """The non-empty lines of a file; none when it does not exist."""
    return [line for line in (_read(path) or "").splitlines() if line.strip()] if os.path.isfile(path) else []


def _headers(path: str) -> dict[str, str]:
    """Name and Version of a METADATA file (its header ends at the first blank line)."""
    headers: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            for line in file:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                if key.lower() in ("name", "version") and key.lower() not in headers:
                    headers[key.lower()] = value.strip()
    except OSError:
        pass
    return headers


# -- pip ---------------------------------------------------------------------------------------

def start_pip(request: dict) -> dict[str, subprocess.Popen]:
    """pip runs in its own processes, started first so they overlap with importing Airflow."""
    env = dict(os.environ, PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    pip = [sys.executable, "-m", "pip"]
    commands = {"check": [*pip, "check"]}
    if request.get("other_airflow"):
        # --no-index: no network, and pip names the constraint in its answer when that is why
        # it refuses (the check looks for it).
        commands["refuse_other"] = [*pip, "install", "--dry-run", "--no-index", "--root-user-action=ignore",
                                    f"apache-airflow=={request['other_airflow']}"]
    return {
        name: subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for name, argv in commands.items()
    }


def finish_pip(processes: dict[str, subprocess.Popen]) -> dict:
    results = {}
    for name, process in processes.items():
        output, _ = process.communicate()
        results[name] = {"returncode": process.returncode, "output": output[-OUTPUT_LIMIT:]}
    results["constraint_file"] = os.environ.get("PIP_CONSTRAINT")
    path = results["constraint_file"]
    results["constraint_text"] = _read(path) if path else None
    return results


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        return f"<unreadable: {error}>"


# -- airflow -----------------------------------------------------------------------------------

def airflow_facts(request: dict) -> dict:
    import airflow
    from airflow.configuration import conf

    return {
        "version": airflow.__version__,
        "config": config_facts(conf, request.get("config", [])),
        "override": override_fact(conf, request.get("override")),
        "providers_manager": providers_manager(),
        "provider_imports": provider_imports(),
        "provider_modules": provider_modules(),
        "plugins": plugins_facts(),
    }


def plugins_facts() -> dict:
    """What `airflow plugins` shows (name, source, macros of each plugin) and the import errors."""
    try:
        from airflow import plugins_manager

        info = plugins_manager.get_plugin_info(attrs_to_dump=["macros", "source"])
        if hasattr(plugins_manager, "get_import_errors"):  # Airflow 3
            errors = plugins_manager.get_import_errors()
        else:
            errors = getattr(plugins_manager, "import_errors", {})
        return {
            "plugins": [{"name": str(p.get("name")), "source": str(p.get("source")),
                         "macros": [str(m) for m in p.get("macros") or []]} for p in info],
            "import_errors": {str(k): str(v) for k, v in errors.items()},
        }
    except Exception as error:
        return {"error": error_text(error)}


def _option_known(conf, section: str, key: str) -> bool:
    description = conf.configuration_description
    return key in description.get(section, {}).get("options", {})


def config_facts(conf, options: list) -> dict:
    loaded_providers = False
    facts = {}
    for section, key in options:
        fact: dict = {}
        try:
            known = _option_known(conf, section, key)
            if not known and not loaded_providers and hasattr(conf, "load_providers_configuration"):
                # Options of providers (celery, kubernetes, ...) are only described once loaded.
                conf.load_providers_configuration()
                loaded_providers = True
            fact["known"] = known or _option_known(conf, section, key)
            renamed = [f"[{new_section}] {new_key}" for (new_section, new_key), (old_section, old_key, *_)
                       in getattr(conf, "deprecated_options", {}).items() if (old_section, old_key) == (section, key)]
            fact["renamed_to"] = renamed
            fact["value"] = conf.get(section, key)
        except Exception as error:  # report and go on: one bad option must not hide the others
            fact["error"] = error_text(error)
        facts[f"{section}/{key}"] = fact
    return facts


def override_fact(conf, override: list | None) -> dict | None:
    """Whether the configuration follows the environment at the time it is read."""
    if not override:
        return None
    section, key, value = override
    name = f"AIRFLOW__{section.upper()}__{key.upper()}"
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        return {"variable": name, "set": value, "read": conf.get(section, key)}
    except Exception as error:
        return {"variable": name, "set": value, "error": error_text(error)}
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def providers_manager() -> dict:
    """What `airflow providers list` shows: package name -> version."""
    try:
        from airflow.providers_manager import ProvidersManager

        return {"providers": {name: info.version for name, info in ProvidersManager().providers.items()}}
    except Exception as error:
        return {"error": error_text(error)}


def provider_imports() -> dict:
    """Import every installed provider's package and the module of its provider-info hook."""
    results: dict[str, dict] = {}
    hooks = {}
    for entry in importlib.metadata.entry_points(group="apache_airflow_provider"):
        if entry.dist is not None:
            hooks[canonical(entry.dist.metadata["Name"])] = entry.value
    root = site_packages()
    names = (_headers(os.path.join(root, entry, "METADATA")).get("name") for entry in os.listdir(root)
             if entry.endswith(".dist-info"))
    providers = {canonical(name) for name in names if name and canonical(name).startswith("apache-airflow-providers-")}
    for name in sorted(providers | set(hooks)):
        hook = hooks.get(name)
        if hook is None:
            results[name] = {"ok": False, "error": "no apache_airflow_provider entry point"}
            continue
        module_name, _, function = hook.partition(":")
        package = module_name.rpartition(".")[0]
        try:
            importlib.import_module(package)
            module = importlib.import_module(module_name)
            info = getattr(module, function)()
            results[name] = {"ok": True, "package": package, "package_name": info.get("package-name")}
        except BaseException as error:  # a SystemExit or a broken file is a result, not a crash
            results[name] = {"ok": False, "package": package, "error": error_text(error)}
    return results


PROVIDER_KINDS = ("executors", "hooks", "operators", "sensors", "triggers")


def provider_modules() -> dict:
    """Import every module of every installed provider's executors, hooks, operators, sensors and
    triggers packages, as a worker or the DAG processor would: {"count": n, "failed": {module: error}}."""
    import pkgutil
    import warnings

    packages = sorted({entry.value.partition(":")[0].rpartition(".")[0]
                       for entry in importlib.metadata.entry_points(group="apache_airflow_provider")})
    count, failed = 0, {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # deprecation warnings are not import failures
        for package in packages:
            for kind in PROVIDER_KINDS:
                name = f"{package}.{kind}"
                try:
                    module = importlib.import_module(name)
                except ModuleNotFoundError as error:
                    if error.name != name:  # the package exists but needs a module that does not
                        failed[name] = error_text(error)
                    continue
                except BaseException as error:
                    failed[name] = error_text(error)
                    continue
                count += 1
                # getattr: compat modules answer unknown attributes through __getattr__.
                for found in pkgutil.walk_packages(getattr(module, "__path__", None) or [], f"{name}."):
                    count += 1
                    try:
                        importlib.import_module(found.name)
                    except BaseException as error:  # SystemExit or a syntax error is a result too
                        failed[found.name] = error_text(error)
    return {"count": count, "failed": failed}


# -- dags --------------------------------------------------------------------------------------

def _dagbag_class():
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.1+
    except ImportError:
        from airflow.models.dagbag import DagBag
    return DagBag


def _dagbag(folder: str):
    import inspect

    dagbag_class = _dagbag_class()
    kwargs = {}
    if "include_examples" in inspect.signature(dagbag_class.__init__).parameters:
        kwargs["include_examples"] = False
    with contextlib.redirect_stdout(io.StringIO()):
        return dagbag_class(dag_folder=folder, **kwargs)


def _schedule(dag) -> str | None:
    schedule = getattr(dag, "schedule", None)
    if isinstance(schedule, str):
        return schedule
    if isinstance(getattr(dag, "schedule_interval", None), str):  # Airflow 2
        return dag.schedule_interval
    timetable = getattr(dag, "timetable", None)
    return getattr(timetable, "_expression", None) or getattr(timetable, "summary", None)


def dags_facts(request: dict) -> dict:
    from airflow.configuration import conf

    folder = conf.get("core", "dags_folder")
    # The DAG folder and every other local bundle's folder (Airflow 3; monitoring-guarded has its own).
    bundles = json.loads(conf.get("dag_processor", "dag_bundle_config_list", fallback="[]") or "[]")
    folders = [folder, *(b["kwargs"]["path"] for b in bundles if (b.get("kwargs") or {}).get("path"))]
    facts: dict = {"dags_folder": folder, "bundle_folders": folders[1:], "dag_ids": [], "import_errors": {}}
    dags: dict = {}
    for each in dict.fromkeys(folders):
        dagbag = _dagbag(each)
        dags.update(dagbag.dags)
        facts["dag_ids"] = sorted({*facts["dag_ids"], *dagbag.dag_ids})
        facts["import_errors"].update({str(path): str(error)[-OUTPUT_LIMIT:]
                                       for path, error in dagbag.import_errors.items()})
    dag_id = request.get("monitoring_dag")
    dag = dags.get(dag_id) if dag_id else None
    if dag is None:
        return facts
    stat = os.stat(dag.fileloc)
    facts["monitoring"] = {"fileloc": dag.fileloc, "schedule": _schedule(dag), "owner": stat.st_uid,
                           "mode": oct(stat.st_mode & 0o7777),
                           "paused_upon_creation": getattr(dag, "is_paused_upon_creation", None)}
    override = request.get("schedule_override")
    if override:
        # A fresh DagBag imports the file again, now with the variable set.
        os.environ["AIRFLOW_MONITORING_DAG_SCHEDULE_INTERVAL"] = override
        try:
            again = _dagbag(dag.fileloc)
            redone = again.dags.get(dag_id)
            facts["monitoring"]["schedule_with_override"] = _schedule(redone) if redone else None
            facts["monitoring"]["override_import_errors"] = {str(p): str(e) for p, e in again.import_errors.items()}
        finally:
            del os.environ["AIRFLOW_MONITORING_DAG_SCHEDULE_INTERVAL"]
    return facts


# -- filesystem ----------------------------------------------------------------------------------

def any_of(patterns: list[str] | tuple[str, ...] | None) -> re.Pattern:
    """One expression for dpkg path patterns (`*` spans `/` in both); no pattern matches nothing."""
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns or ()) or "(?!)")


def filesystem(request: dict) -> dict:
    """Compilers, package caches, setuid/setgid programs, build secrets' copies, what slim Debian leaves out."""
    secrets = {name: (int(size), digest) for name, (size, digest) in (request.get("secrets") or {}).items()}
    sizes = {size for size, _ in secrets.values()}
    caches, copies, compilers, privileged, unslim, writable = [], [], [], [], [], []
    excluded, kept = any_of(request.get("slim_excluded")), any_of(request.get("slim_kept"))
    directories = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    directories += ["/usr/bin", "/usr/local/bin", "/bin", "/usr/sbin", "/sbin"]
    for directory in dict.fromkeys(directories):
        with contextlib.suppress(OSError):
            for entry in os.scandir(directory):
                named = any(fnmatch.fnmatch(entry.name, pattern) for pattern in COMPILERS)
                if named and os.access(entry.path, os.X_OK):
                    compilers.append(entry.path)
    for top, dirs, files in os.walk("/"):
        if top in SKIP_TREES:
            dirs[:] = []
            continue
        if os.path.basename(top) == ".cache":
            caches += [os.path.join(top, d) for d in dirs if d in CACHE_NAMES]
        if top == "/tmp":
            caches += [os.path.join(top, d) for d in dirs if re.match(r"^(pip|uv)-", d)]
        with contextlib.suppress(OSError):  # every user may write in it, and delete others' files (no sticky bit)
            mode = os.lstat(top).st_mode
            if mode & 0o002 and not mode & 0o1000:
                writable.append(top + "/")
        for name in files:
            path = os.path.join(top, name)
            if excluded.match(path) and not kept.match(path):
                unslim.append(path)
            try:
                if os.path.islink(path):
                    continue
                if os.lstat(path).st_mode & 0o6000:  # setuid or setgid
                    privileged.append(path)
                if os.lstat(path).st_mode & 0o002:  # every user may write it
                    writable.append(path)
                if os.path.getsize(path) not in sizes:
                    continue
                with open(path, "rb") as file:
                    digest = hashlib.sha256(file.read()).hexdigest()
            except OSError:
                continue
            copies += [{"secret": secret, "path": path, "sha256": digest}
                       for secret, (_, wanted) in secrets.items() if digest == wanted]
    run_secrets = sorted(os.listdir("/run/secrets")) if os.path.isdir("/run/secrets") else None
    system_bundle = "/etc/ssl/certs/ca-certificates.crt"
    bundle_digest = None
    with contextlib.suppress(OSError), open(system_bundle, "rb") as file:
        bundle_digest = hashlib.sha256(file.read()).hexdigest()
    return {
        "compilers": sorted(set(compilers)),
        "setuid_or_setgid": sorted(privileged),
        "world_writable": sorted(writable),
        "caches": sorted(set(caches)),
        "slim_excluded_files": sorted(unslim),
        "secret_copies": copies,
        "run_secrets": run_secrets,
        "system_ca_bundle_sha256": bundle_digest,
    }


# -- main -----------------------------------------------------------------------------------------

def collect(request: dict) -> dict:
    sections = request.get("sections") or list(SECTIONS)
    facts: dict = {"sections": sections, "errors": {}, "seconds": {}}
    started = time.monotonic()
    pip = start_pip(request) if "pip" in sections else {}
    steps = {
        "identity": identity,
        "distributions": lambda: distributions(request),
        "airflow": lambda: airflow_facts(request),
        "dags": lambda: dags_facts(request),
        "filesystem": lambda: filesystem(request),
    }
    for name, step in steps.items():
        if name not in sections:
            continue
        began = time.monotonic()
        try:
            # Airflow logs to stdout on import; keep stdout for the one JSON document.
            with contextlib.redirect_stdout(sys.stderr):
                facts[name] = step()
        except BaseException as error:
            facts["errors"][name] = traceback.format_exc()[-OUTPUT_LIMIT:] or error_text(error)
        facts["seconds"][name] = round(time.monotonic() - began, 1)
    if pip:
        facts["pip"] = finish_pip(pip)
    facts["seconds"]["total"] = round(time.monotonic() - started, 1)
    return facts


def main(argv: list[str]) -> int:
    request = json.loads(argv[1]) if len(argv) > 1 else {}
    facts = collect(request)
    # A marker, in case something still writes to stdout: the reader takes the marked line.
    sys.stdout.write(MARKER + json.dumps(facts, sort_keys=True, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
