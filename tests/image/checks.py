"""What an image must be, compared with what it is: pure functions over facts.

`expected_for` turns a matrix release, a Python, a platform and the cell's lock file into an
`Expected`; the image tests gather facts (the JSON of `probe.py`, `docker image inspect`,
`docker history`) and each `check_*` function returns the problems it finds, worded for the
person reading a failed CI job. An empty list means the image is right.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from packaging.utils import canonicalize_name

from runtime_builder import contract
from runtime_builder.contract import Change
from runtime_builder.images.bootstrap import SLIM_EXCLUDED, SLIM_KEPT
from runtime_builder.in_image import patching
from runtime_builder.lock.resolver import pins
from runtime_builder.matrix.model import Platform, Release, Variant, Version

# The image contract (runtime_builder/contract.py, which the templates render from).
VENV = contract.VENV
AIRFLOW_HOME = contract.AIRFLOW_HOME
CONSTRAINTS = contract.CONSTRAINTS_FILE
UID, GID = contract.UID, contract.GID
MONITORING_DAG = contract.MONITORING_DAG_ID
MONITORING_SCHEDULE = contract.MONITORING_SCHEDULE
MONITORING_VARIABLE = contract.MONITORING_SCHEDULE_VARIABLE
SCHEDULE_OVERRIDE = "17 3 * * *"  # any cron expression other than the default
PROVIDER_PREFIX = "apache-airflow-providers-"
SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
AIRFLOW_OPTION = re.compile(r"^AIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)$")
CHANGE_NAMES = {change.value for change in contract.Change}


@dataclass(frozen=True)
class Expected:
    """Everything one image must show, from versions.yaml and its lock file."""

    runtime_version: str
    airflow_version: str  # the release's Airflow, as pinned
    python: str
    debian: str
    platform: Platform
    pins: Mapping[str, str]  # canonical name -> version: exactly what the venv holds
    environment: Mapping[str, str]  # variable -> value, set in the image
    other_airflow: str  # a version a `pip install` must refuse
    monitoring_schedule: str = MONITORING_SCHEDULE
    labels: Mapping[str, str] = field(default_factory=dict)
    airflow_reported: str = ""  # what `airflow version` prints; with a local label when patched
    patches: tuple[tuple[str, str], ...] = ()  # (name, unified diff) of the release's backports
    patched_distribution: str = ""  # the distribution the patches relabel
    in_house: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (name, version, Airflow plugins) built in
    changes: frozenset[str] = frozenset()  # the image changes (versions.yaml image_changes) the release has
    bytecode: bool = True  # the venv's byte-code is in the image (a slim one from slim-no-bytecode on: no)
    entrypoint: tuple[str, ...] = (contract.INIT, "--", contract.ENTRYPOINT)  # the image's ENTRYPOINT

    def has(self, change: contract.Change) -> bool:
        return change.value in self.changes

    @property
    def reported(self) -> str:
        return self.airflow_reported or self.airflow_version

    @property
    def patched_files(self) -> list[str]:
        """Every file (relative to site-packages) the patches change."""
        return sorted({change.path for name, text in self.patches for change in patching.parse(text, name)})

    @property
    def machine(self) -> str:
        return self.platform.machine

    @property
    def providers(self) -> dict[str, str]:
        return {name: version for name, version in self.pins.items() if name.startswith(PROVIDER_PREFIX)}

    @property
    def config(self) -> dict[tuple[str, str], str]:
        """(section, key) -> value for every AIRFLOW__SECTION__KEY variable of the environment."""
        return {option: value for name, value in self.environment.items() if (option := config_option(name))}


def config_option(variable: str) -> tuple[str, str] | None:
    """AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY -> (scheduler, max_tis_per_query); None otherwise."""
    match = AIRFLOW_OPTION.match(variable)
    return (match.group(1).lower(), match.group(2).lower()) if match else None


def expected_for(release: Release, python: str, platform: Platform, lock_text: str,
                 variant: Variant = Variant.BASE) -> Expected:
    """What an image of `variant` must be; `lock_text`: its lock (the slim one for a slim image)."""
    runtime = str(release.version)
    instance = contract.instance_name_variable(release.airflow.major)
    environment = {
        **dict(release.environment_of(variant)),
        "AIRFLOW_HOME": AIRFLOW_HOME,
        "PIP_CONSTRAINT": CONSTRAINTS,
        instance: contract.instance_name(runtime),
    }
    if release.has(contract.Change.ANY_UID_COMMANDS):  # any uid has the image user's name
        environment |= {"USER": contract.USER, "LOGNAME": contract.USER}
    if release.has(contract.Change.ANY_UID_HOME):  # exec'd commands under any uid too
        environment |= {"HOME": AIRFLOW_HOME}
    airflow = release.airflow
    locked = pins(lock_text)
    if release.patches and release.airflow_distribution in locked:  # patched: the local version label
        locked[release.airflow_distribution] += f"+{release.local_label}"
    locked |= {canonicalize_name(package.name): package.version for package in release.in_house}
    return Expected(
        runtime_version=runtime,
        airflow_version=str(airflow),
        airflow_reported=release.airflow_build_version,
        patches=tuple((backport.name, backport.text) for backport in release.patches),
        patched_distribution=release.airflow_distribution if release.patches else "",
        in_house=tuple((package.name, package.version, package.plugins) for package in release.in_house),
        changes=frozenset(change.name for change in release.changes),
        bytecode=release.ships_bytecode(variant),
        entrypoint=(contract.INIT, "--", contract.entrypoint_of(
            frozenset(contract.Change(c.name) for c in release.changes if c.name in CHANGE_NAMES))),
        python=python,
        debian=release.suite.debian,
        platform=platform,
        pins=locked,
        environment=environment,
        other_airflow=str(Version(airflow.major, airflow.minor, airflow.patch + 1)),
        labels={
            "org.opencontainers.image.version": runtime,
            "io.airflow-runtime.version": runtime,
            "io.airflow-runtime.airflow-version": release.airflow_build_version,
            "io.airflow-runtime.patches": " ".join(backport.name for backport in release.patches),
            "io.airflow-runtime.python-version": python,
            "io.airflow-runtime.debian": release.suite.debian,
            "org.opencontainers.image.title": contract.image_title(onbuild=not variant.is_base, slim=variant.is_slim),
            **({"org.opencontainers.image.licenses": contract.LICENSE,
                "org.opencontainers.image.vendor": contract.VENDOR,
                "org.opencontainers.image.description": contract.description(
                    release.airflow_build_version, python, release.suite.debian, slim=variant.is_slim)}
               if release.has(Change.OCI_LABELS) else {}),
        },
    )


def probe_request(expected: Expected, sections: list[str] | None = None,
                  secrets: Mapping[str, tuple[int, str]] | None = None,
                  override: tuple[str, str, str] | None = None) -> dict:
    """What probe.py must collect to check `expected` (all sections unless named)."""
    return {
        "sections": sections or [],
        "config": [list(option) for option in sorted(expected.config)],
        "override": list(override) if override else None,
        "other_airflow": expected.other_airflow,
        "patched_files": expected.patched_files,
        "monitoring_dag": MONITORING_DAG,
        "schedule_override": SCHEDULE_OVERRIDE,
        "secrets": {name: list(value) for name, value in (secrets or {}).items()},
        # What a slim Debian floor leaves out, as the bases are made (bootstrap.SLIM_*).
        "slim_excluded": list(SLIM_EXCLUDED),
        "slim_kept": list(SLIM_KEPT),
    }


def _section(facts: Mapping, name: str) -> tuple[Mapping, list[str]]:
    """A section of the probe's facts, or the problem that it could not be collected."""
    if name in facts.get("errors", {}):
        return {}, [f"the probe could not collect {name}:\n{facts['errors'][name]}"]
    if name not in facts:
        return {}, [f"the probe did not collect {name}"]
    return facts[name], []


# -- Python and Airflow -------------------------------------------------------------------------

def check_python(expected: Expected, facts: Mapping) -> list[str]:
    identity, problems = _section(facts, "identity")
    if problems:
        return problems
    minor = ".".join(identity["python_version"].split(".")[:2])
    if minor != expected.python:
        problems.append(f"Python is {identity['python_version']}, expected {expected.python}")
    if identity["machine"] != expected.machine:
        problems.append(f"machine is {identity['machine']}, expected {expected.machine} ({expected.platform.value})")
    if identity["prefix"] != VENV:
        problems.append(f"`python` runs from {identity['prefix']}, expected the venv {VENV}")
    return problems


def check_airflow_version(expected: Expected, facts: Mapping) -> list[str]:
    airflow, problems = _section(facts, "airflow")
    if problems:
        return problems
    if airflow["version"] != expected.reported:
        return [f"airflow.__version__ is {airflow['version']}, expected {expected.reported}"]
    return []


def check_airflow_cli_version(expected: Expected, returncode: int, output: str) -> list[str]:
    """The output of `docker run IMAGE version` (the entrypoint hands `version` to airflow)."""
    last = output.strip().splitlines()[-1] if output.strip() else ""
    if returncode != 0 or last != expected.reported:
        return [f"`airflow version` printed {last!r} (exit {returncode}), expected {expected.reported}:\n"
                f"{output[-2000:]}"]
    return []


def check_constraint(expected: Expected, facts: Mapping) -> list[str]:
    """A plain `pip install apache-airflow==<other>` fails, and the shipped constraint is why."""
    pip, problems = _section(facts, "pip")
    if problems:
        return problems
    wanted = f"apache-airflow=={expected.airflow_version}"
    if pip["constraint_file"] != CONSTRAINTS:
        problems.append(f"PIP_CONSTRAINT is {pip['constraint_file']!r}, expected {CONSTRAINTS}")
    text = pip.get("constraint_text") or ""
    if wanted not in [line.strip() for line in text.splitlines()]:
        problems.append(f"{pip['constraint_file']} does not pin {wanted}:\n{text}")
    refused = pip["refuse_other"]
    if refused["returncode"] == 0:
        problems.append(f"`pip install apache-airflow=={expected.other_airflow}` was not refused:\n{refused['output']}")
    elif f"(constraint) {wanted}" not in refused["output"]:
        problems.append(f"`pip install apache-airflow=={expected.other_airflow}` failed, but not because of the "
                        f"constraint {wanted}:\n{refused['output']}")
    return problems


# -- pins and providers ---------------------------------------------------------------------------

def check_pins(expected: Expected, facts: Mapping) -> list[str]:
    """The venv holds exactly the lock: every pin at its version, nothing else, nothing broken."""
    section, problems = _section(facts, "distributions")
    if problems:
        return problems
    installed = section["distributions"]
    for name, version in sorted(expected.pins.items()):
        found = installed.get(name)
        if not found:
            problems.append(f"{name}=={version} is locked but not installed")
        elif [d["version"] for d in found] != [version]:
            problems.append(f"{name} is installed as {', '.join(d['version'] for d in found)}, locked at {version}")
    for name, found in sorted(installed.items()):
        if name not in expected.pins:
            where = ", ".join(d["path"] for d in found)
            problems.append(f"{name} {', '.join(str(d['version']) for d in found)} is installed but not in the lock "
                            f"({where})")
    for name, found in sorted(installed.items()):
        for dist in found:
            if dist.get("missing_files"):
                problems.append(f"{name} {dist['version']}: {dist['missing_files']} files of its RECORD are missing, "
                                f"e.g. {', '.join(dist['missing_examples'])}")
    return problems


def check_patches(expected: Expected, facts: Mapping) -> list[str]:
    """Each backport is in the installed files (every hunk's result, in order), the distribution
    it patched records it, and no other distribution claims patches."""
    section, problems = _section(facts, "distributions")
    if problems:
        return problems
    files = section.get("patched_files", {})
    for name, text in expected.patches:
        for change in patching.parse(text, name):
            content = files.get(change.path)
            if content is None:
                problems.append(f"{name}: {change.path} is not installed")
                continue
            lines, position = content.splitlines(keepends=True), 0
            for number, hunk in enumerate(change.hunks, 1):
                where = patching.find_block(lines, hunk.new, position)
                if where is None:
                    problems.append(f"{name}: {change.path}: the result of hunk #{number} ({hunk.header}) is not "
                                    "in the installed file: the patch was not applied")
                    break
                position = where + len(hunk.new)
    wanted = [name for name, _ in expected.patches]
    for dist_name, found in sorted(section["distributions"].items()):
        for dist in found:
            recorded = dist.get("runtime_patches", [])
            if dist_name == expected.patched_distribution:
                if recorded != wanted:
                    problems.append(f"{dist_name} {dist['version']} records the patches {recorded or 'none'}, "
                                    f"expected {wanted}")
            elif recorded:
                problems.append(f"{dist_name} {dist['version']} records patches {recorded}, but the release patches "
                                f"{expected.patched_distribution or 'nothing'}")
    return problems


def check_in_house(expected: Expected, facts: Mapping) -> list[str]:
    """Each in-house package is installed once at its version and its Airflow plugins load."""
    section, problems = _section(facts, "distributions")
    airflow, more = _section(facts, "airflow")
    problems += more
    if problems:
        return problems
    plugins = airflow.get("plugins", {})
    if expected.in_house and "error" in plugins:
        return [f"Airflow's plugins manager failed (`airflow plugins` would too):\n{plugins['error']}"]
    loaded = {plugin["name"]: plugin for plugin in plugins.get("plugins", [])}
    for name, version, entry_points in expected.in_house:
        found = section["distributions"].get(canonicalize_name(name), [])
        if [d["version"] for d in found] != [version]:
            shown = ", ".join(d["version"] for d in found) or "not installed"
            problems.append(f"in-house {name}: {shown}, expected {version} (locks/in-house.txt)")
        for plugin in entry_points:
            if plugin not in loaded:
                errors = "".join(f"\n  {k}: {v}" for k, v in plugins.get("import_errors", {}).items())
                problems.append(f"in-house {name}: Airflow did not load its plugin {plugin!r}; loaded: "
                                f"{', '.join(sorted(loaded)) or 'none'}; import errors: {errors or 'none'}")
            elif _source_distribution(loaded[plugin]["source"]) != canonicalize_name(name):
                problems.append(f"in-house {name}: a plugin named {plugin!r} was loaded, but from "
                                f"{loaded[plugin]['source']}")
    return problems


def _source_distribution(source: str) -> str:
    """The distribution of an entry-point plugin's source ("name==version: EntryPoint(...)")."""
    return canonicalize_name(source.split("==", 1)[0].strip())


def check_providers(expected: Expected, facts: Mapping) -> list[str]:
    """Every locked provider is registered with Airflow at its version, and its package imports."""
    airflow, problems = _section(facts, "airflow")
    if problems:
        return problems
    manager = airflow["providers_manager"]
    if "error" in manager:
        return [f"Airflow's ProvidersManager failed (`airflow providers list` would too):\n{manager['error']}"]
    registered = manager["providers"]
    imports = airflow["provider_imports"]
    for name, version in sorted(expected.providers.items()):
        if registered.get(name) != version:
            shown = f"at {registered[name]}" if name in registered else "missing"
            problems.append(f"{name}: `airflow providers list` shows it {shown}, locked at {version}")
        result = imports.get(name)
        if result is None:
            problems.append(f"{name}: not found among the installed providers' entry points")
        elif not result["ok"]:
            problems.append(f"{name}: its package does not import: {result['error']}")
    for name in sorted(set(registered) - set(expected.providers)):
        problems.append(f"{name} {registered[name]} is registered with Airflow but not in the lock")
    return problems


# Provider modules that need a package only an optional extra of their provider installs:
# module -> (the module it may not find, why that is fine). Anything else that fails to import fails.
PROVIDER_MODULES_ALLOWED_TO_FAIL = {
    "airflow.providers.common.sql.operators.analytics": (
        "datafusion", "needs apache-airflow-providers-common-sql[datafusion]; the images do not ship DataFusion"),
}


def check_provider_modules(facts: Mapping) -> list[str]:
    """Every module of every provider's executors, hooks, operators, sensors and triggers imports."""
    airflow, problems = _section(facts, "airflow")
    if problems:
        return problems
    modules = airflow["provider_modules"]
    if modules["count"] == 0:
        return ["no provider module was found to import: the check looked in the wrong place"]
    for module, error in sorted(modules["failed"].items()):
        allowed = PROVIDER_MODULES_ALLOWED_TO_FAIL.get(module)
        if allowed and f"No module named '{allowed[0]}'" in error:
            continue
        problems.append(f"{module} does not import: {error}")
    return problems


def check_pip_check(facts: Mapping) -> list[str]:
    pip, problems = _section(facts, "pip")
    if problems:
        return problems
    result = pip["check"]
    if result["returncode"] != 0:
        return [f"`pip check` failed:\n{result['output']}"]
    return []


# -- environment and configuration ------------------------------------------------------------------

def check_environment(expected: Expected, facts: Mapping) -> list[str]:
    identity, problems = _section(facts, "identity")
    if problems:
        return problems
    environment = identity["environment"]
    for name, value in sorted(expected.environment.items()):
        if name not in environment:
            problems.append(f"{name} is not set, expected {value!r}")
        elif environment[name] != value:
            problems.append(f"{name} is {environment[name]!r}, expected {value!r}")
    path = environment.get("PATH", "").split(":")
    if not path or path[0] != f"{VENV}/bin":
        problems.append(f"PATH does not start with {VENV}/bin: {environment.get('PATH')!r}")
    return problems


def check_config(expected: Expected, facts: Mapping) -> list[str]:
    """Airflow reads every AIRFLOW__* default as a current, known option with the expected value."""
    airflow, problems = _section(facts, "airflow")
    if problems:
        return problems
    config = airflow["config"]
    for (section, key), value in sorted(expected.config.items()):
        label = f"[{section}] {key} (AIRFLOW__{section.upper()}__{key.upper()})"
        fact = config.get(f"{section}/{key}")
        if fact is None:
            problems.append(f"{label}: not read by the probe")
            continue
        if "error" in fact:
            problems.append(f"{label}: Airflow cannot read it: {fact['error']}")
            continue
        if fact["renamed_to"]:
            problems.append(f"{label}: renamed in Airflow {expected.airflow_version} to "
                            f"{', '.join(fact['renamed_to'])}")
        elif not fact["known"]:
            problems.append(f"{label}: not an option of Airflow {expected.airflow_version} or of its installed "
                            "providers, so nothing reads it")
        if fact["value"] != value:
            problems.append(f"{label}: Airflow reads {fact['value']!r}, expected {value!r}")
    return problems


def check_config_override(facts: Mapping) -> list[str]:
    """Inside Airflow: changing the variable changes what the configuration returns."""
    airflow, problems = _section(facts, "airflow")
    if problems:
        return problems
    override = airflow.get("override")
    if override is None:
        return ["the probe was not asked to override an option"]
    if override.get("read") != override["set"]:
        return [f"with {override['variable']}={override['set']!r}, Airflow reads "
                f"{override.get('read', override.get('error'))!r}"]
    return []


def check_environment_override(variable: str, value: str, facts: Mapping) -> list[str]:
    """`docker run -e VARIABLE=value` wins over the image's default."""
    identity, problems = _section(facts, "identity")
    if problems:
        return problems
    found = identity["environment"].get(variable)
    return [] if found == value else [f"with `docker run -e {variable}={value}`, the container has {found!r}"]


# -- the image contract ------------------------------------------------------------------------------

def check_identity(facts: Mapping) -> list[str]:
    identity, problems = _section(facts, "identity")
    if problems:
        return problems
    if (identity["uid"], identity["gid"]) != (UID, GID):
        problems.append(f"runs as uid {identity['uid']} gid {identity['gid']}, expected uid {UID} gid {GID}")
    if identity["cwd"] != AIRFLOW_HOME:
        problems.append(f"starts in {identity['cwd']}, expected AIRFLOW_HOME {AIRFLOW_HOME}")
    return problems


def check_image_config(expected: Expected, config: Mapping) -> list[str]:
    """`docker image inspect`'s .Config: user, entrypoint, working directory."""
    problems = []
    if config.get("User") not in (f"{UID}:{GID}", f"{UID}"):
        problems.append(f"USER is {config.get('User')!r}, expected {UID}:{GID}")
    if tuple(config.get("Entrypoint") or ()) != expected.entrypoint:
        problems.append(f"ENTRYPOINT is {config.get('Entrypoint')}, expected {list(expected.entrypoint)}")
    if config.get("WorkingDir") != AIRFLOW_HOME:
        problems.append(f"WORKDIR is {config.get('WorkingDir')!r}, expected {AIRFLOW_HOME}")
    return problems


def check_labels(expected: Expected, labels: Mapping[str, str] | None) -> list[str]:
    labels = labels or {}
    problems = [f"label {name} is {labels.get(name)!r}, expected {value!r}"
                for name, value in sorted(expected.labels.items()) if labels.get(name) != value]
    if not labels.get("org.opencontainers.image.revision"):
        problems.append("label org.opencontainers.image.revision is empty")
    created = labels.get("org.opencontainers.image.created", "")
    try:
        datetime.fromisoformat(created)
    except ValueError:
        problems.append(f"label org.opencontainers.image.created is {created!r}, not an ISO 8601 date")
    source = labels.get("org.opencontainers.image.source", "")
    if not re.match(r"^https?://\S+$", source):
        problems.append(f"label org.opencontainers.image.source is {source!r}, not a URL")
    if not labels.get("org.opencontainers.image.base.name"):
        problems.append("label org.opencontainers.image.base.name is empty")
    digest = labels.get("io.airflow-runtime.base-digest", "")
    if not SHA256.match(digest):
        problems.append(f"label io.airflow-runtime.base-digest is {digest!r}, not sha256:<64 hex digits>")
    return problems


def check_base_image_digest(expected: Expected, labels: Mapping[str, str] | None, base_image_id: str | None,
                            onbuild: bool) -> list[str]:
    """From `oci-labels`, an ONBUILD image names the id of the -base image it was built on."""
    found = (labels or {}).get("org.opencontainers.image.base.digest")
    if Change.OCI_LABELS.value not in expected.changes or not onbuild:
        return [] if found is None else [f"label org.opencontainers.image.base.digest is {found!r} on an image "
                                         "that should not have it"]
    if base_image_id is None:
        return [f"the -base image this ONBUILD image names ({(labels or {}).get('org.opencontainers.image.base.name')})"
                " is not here to compare with"]
    return [] if found == base_image_id else [f"label org.opencontainers.image.base.digest is {found!r}, the base "
                                              f"image {(labels or {}).get('org.opencontainers.image.base.name')} "
                                              f"is {base_image_id}"]


def check_no_compilers(facts: Mapping) -> list[str]:
    filesystem, problems = _section(facts, "filesystem")
    if problems:
        return problems
    return [f"a compiler is installed: {path}" for path in filesystem["compilers"]]


def check_no_setuid(facts: Mapping) -> list[str]:
    filesystem, problems = _section(facts, "filesystem")
    if problems:
        return problems
    return [f"setuid or setgid: {path}" for path in filesystem["setuid_or_setgid"]]


def check_no_world_writable(facts: Mapping) -> list[str]:
    filesystem, problems = _section(facts, "filesystem")
    if problems:
        return problems
    if "world_writable" not in filesystem:
        return ["the probe reported no world_writable list (an older probe?)"]
    return [f"every user may write: {path}" for path in filesystem["world_writable"]]


def check_slim_floor(facts: Mapping) -> list[str]:
    """The floor is slim as the official `python:X.Y-slim-<suite>` images are: no manuals,
    documentation (but copyright files) or message catalogues (bootstrap.SLIM_EXCLUDED)."""
    filesystem, problems = _section(facts, "filesystem")
    if problems:
        return problems
    found = filesystem["slim_excluded_files"]
    if not found:
        return []
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    return [f"{len(found)} files a slim Debian leaves out: {shown}"]


def check_no_caches(facts: Mapping) -> list[str]:
    filesystem, problems = _section(facts, "filesystem")
    if problems:
        return problems
    return [f"a package cache was left in the image: {path}" for path in filesystem["caches"]]


def check_no_secrets(facts: Mapping) -> list[str]:
    """No build secret in the file system: /run/secrets empty or absent, no copy of a secret file.

    A secret identical to the image's own CA bundle carried nothing private (a host without an
    intercepting proxy passes the public bundle), so a match with that content is not a leak.
    """
    filesystem, problems = _section(facts, "filesystem")
    if problems:
        return problems
    if filesystem["run_secrets"]:
        problems.append(f"/run/secrets holds {', '.join(filesystem['run_secrets'])}")
    public = filesystem.get("system_ca_bundle_sha256")
    for copy in filesystem["secret_copies"]:
        if copy.get("sha256") != public:
            problems.append(f"the build secret {copy['secret']!r} was copied into the image: {copy['path']}")
    return problems


SECRET_IN_HISTORY = re.compile(
    r"\b(?:COPY|ADD)\b[^\n]*(?:cacert|ca-certificates\.crt|indexurl|secret|\.pem\b)"  # a bundle copied in
    r"|\b(?:cp|mv|cat|tee|install|ln)\b[^|;&\n]*/run/secrets/"  # a mounted secret written somewhere
    r"|\bENV\b[^\n]*/run/secrets/",  # the image's environment points at a build-time secret
    re.IGNORECASE,
)


def check_history(history: list[str], secret_values: Mapping[str, str] | None = None) -> list[str]:
    """`docker history --no-trunc` (CreatedBy lines): no step stores a build secret in a layer.

    `secret_values` ({name: value}) are secrets short enough to appear in a command line (an
    index URL with credentials in it); a CA bundle is looked for in the file system instead.
    """
    problems = [f"a build step stores a secret in a layer: {line.strip()[:300]}"
                for line in history if SECRET_IN_HISTORY.search(line)]
    for name, value in (secret_values or {}).items():
        # Say which step, never the value itself: the report is public CI output.
        problems += [f"the build secret {name!r} appears in the command of step {number} (counted from the top "
                     "of `docker history`)" for number, line in enumerate(history, 1) if value and value in line]
    return problems


# The image settings a container of an image runs with: an ONBUILD image must run exactly as its
# -base image does.
RUN_SETTINGS = ("Env", "User", "Entrypoint", "Cmd", "WorkingDir", "Volumes", "StopSignal", "Healthcheck", "Shell")
# History steps that change no file and no run setting (ONBUILD triggers run only in a project's build).
METADATA_STEPS = ("LABEL", "ARG", "ONBUILD")


def _instruction(created_by: str) -> str:
    """A history line's Dockerfile instruction: BuildKit writes it as is (`COPY a b /d/ # buildkit`),
    the classic builder behind `/bin/sh -c #(nop) `."""
    text = created_by.strip().removeprefix("/bin/sh -c #(nop)").strip()
    return text.removesuffix("# buildkit").strip()


def check_onbuild_extends_base(base: Mapping, onbuild: Mapping, base_history: Sequence[str],
                               onbuild_history: Sequence[str]) -> list[str]:
    """An ONBUILD image is its -base image plus one layer of its own tools (contract.ONBUILD_DIR)
    and metadata: the same layers underneath, the same run settings, and no other step.

    `base` and `onbuild` are `docker image inspect` documents, the histories `docker history
    --no-trunc` CreatedBy lines (newest first). Then everything a process in the ONBUILD image
    sees outside that folder is what it sees in the -base image, so facts probed there (the venv's
    pins, Airflow, its configuration) hold for both."""
    problems = []
    below, layers = base["RootFS"]["Layers"], onbuild["RootFS"]["Layers"]
    if layers[:len(below)] != below or len(layers) != len(below) + 1:
        common = next((i for i, (a, b) in enumerate(zip(below, layers, strict=False)) if a != b),
                      min(len(below), len(layers)))
        problems.append(f"its layers are not the -base image's {len(below)} and one more (it has {len(layers)}, "
                        f"the first {common} the base's)")
    config, base_config = onbuild.get("Config") or {}, base.get("Config") or {}
    problems += [f"{key} is {config.get(key)!r}, the -base image's {base_config.get(key)!r}"
                 for key in RUN_SETTINGS if config.get(key) != base_config.get(key)]
    added = len(onbuild_history) - len(base_history)
    if added < 1 or list(onbuild_history[added:]) != list(base_history):
        problems.append("its history does not continue the -base image's")
        return problems
    copies = []
    for line in onbuild_history[:added]:
        step = _instruction(line)
        keyword = step.split(maxsplit=1)[0].upper() if step else ""
        if keyword == "COPY" and step.split()[-1].rstrip("/") == contract.ONBUILD_DIR:
            copies.append(step)
        elif keyword not in METADATA_STEPS:
            problems.append(f"a step other than metadata and the copy of {contract.ONBUILD_DIR}/: {step[:200]}")
    if len(copies) != 1:
        problems.append(f"{len(copies)} copies into {contract.ONBUILD_DIR}/, not one")
    return problems


# -- the monitoring DAG --------------------------------------------------------------------------------

def check_monitoring_dag(expected: Expected, facts: Mapping) -> list[str]:
    dags, problems = _section(facts, "dags")
    if problems:
        return problems
    for path, error in sorted(dags["import_errors"].items()):
        problems.append(f"DAG import error in {path}:\n{error}")
    monitoring = dags.get("monitoring")
    if monitoring is None:
        problems.append(f"no DAG {MONITORING_DAG!r} in {dags['dags_folder']} (found: {', '.join(dags['dag_ids'])})")
        return problems
    if monitoring["schedule"] != expected.monitoring_schedule:
        problems.append(f"{MONITORING_DAG} is scheduled {monitoring['schedule']!r}, expected "
                        f"{expected.monitoring_schedule!r}")
    # From `monitoring-dag-on` the DAG is on when first parsed; before, Airflow's default (paused).
    unpaused = Change.MONITORING_DAG_ON.value in expected.changes
    if unpaused and monitoring.get("paused_upon_creation") is not False:
        problems.append(f"{MONITORING_DAG} is_paused_upon_creation is {monitoring.get('paused_upon_creation')!r}: "
                        "it would start paused in a new deployment")
    if not unpaused and monitoring.get("paused_upon_creation") is False:
        problems.append(f"{MONITORING_DAG} starts unpaused, but Runtime {expected.runtime_version} was released "
                        "before monitoring-dag-on: a released image changed")
    # From `monitoring-guarded` it is root's file in a bundle of its own, out of the project's dags/.
    if Change.MONITORING_GUARDED.value in expected.changes:
        if not monitoring["fileloc"].startswith(contract.MONITORING_DAGS + "/"):
            problems.append(f"{MONITORING_DAG} is {monitoring['fileloc']}, not in {contract.MONITORING_DAGS}/ "
                            f"(the {contract.MONITORING_BUNDLE} bundle)")
        if (monitoring.get("owner"), monitoring.get("mode")) != (0, "0o644"):
            problems.append(f"{monitoring['fileloc']} is uid {monitoring.get('owner')}, mode {monitoring.get('mode')}: "
                            "the image's user could edit the runtime's monitoring DAG (expected root's, 0644)")
    elif not monitoring["fileloc"].startswith(dags["dags_folder"] + "/"):
        problems.append(f"{MONITORING_DAG} is {monitoring['fileloc']}, outside {dags['dags_folder']}: "
                        "a released image changed")
    return problems


def check_monitoring_schedule_override(override: str, facts: Mapping) -> list[str]:
    dags, problems = _section(facts, "dags")
    if problems:
        return problems
    monitoring = dags.get("monitoring") or {}
    found = monitoring.get("schedule_with_override")
    if found != override:
        errors = monitoring.get("override_import_errors") or {}
        return [f"with {MONITORING_VARIABLE}={override!r}, {MONITORING_DAG} is scheduled {found!r}"
                + "".join(f"\n{path}: {error}" for path, error in errors.items())]
    return []


def _sbom_components(bom: Mapping, kind: str) -> dict[str, Mapping]:
    """purl type ("pypi", "deb") -> name -> component."""
    return {c["name"] if kind == "deb" else canonicalize_name(c["name"]): c
            for c in bom.get("components", []) if c.get("purl", "").startswith(f"pkg:{kind}/")}


def check_sbom_python(expected: Expected, bom: Mapping, facts: Mapping) -> list[str]:
    """The SBOM's Python distributions are exactly the venv's, and every locked one carries hashes."""
    distributions, problems = _section(facts, "distributions")
    if problems:
        return problems
    installed = {name: entries[0]["version"] for name, entries in distributions["distributions"].items()}
    listed = {name: component["version"] for name, component in _sbom_components(bom, "pypi").items()}
    problems += [f"SBOM lists {name} {version}, the venv has {installed.get(name, 'no such distribution')}"
                 for name, version in sorted(listed.items()) if installed.get(name) != version]
    problems += [f"the venv has {name} {version}, the SBOM does not list it"
                 for name, version in sorted(installed.items()) if name not in listed]
    in_house = {canonicalize_name(name) for name, _, _ in expected.in_house}
    components = _sbom_components(bom, "pypi")
    problems += [f"SBOM: {name} is locked but has no hashes" for name in sorted(set(expected.pins) - in_house)
                 if name in components and not components[name].get("hashes")]
    return problems


def check_sbom_debian(bom: Mapping, dpkg_query: str) -> list[str]:
    """The SBOM's Debian packages are exactly those dpkg has installed, at their versions."""
    installed = {}
    for line in dpkg_query.splitlines():
        status, name, version = ([*line.split(" ", 2), "", ""])[:3]
        if status == "installed":
            installed[name] = version
    listed = {name: component["version"] for name, component in _sbom_components(bom, "deb").items()}
    problems = [f"SBOM lists {name} {version}, dpkg has {installed.get(name, 'no such package')}"
                for name, version in sorted(listed.items()) if installed.get(name) != version]
    problems += [f"dpkg has {name} {version}, the SBOM does not list it"
                 for name, version in sorted(installed.items()) if name not in listed]
    return problems


def check_venv_layers(expected: Sequence[tuple[str, set[str]]], found: Sequence[set[str]],
                      skeleton: Sequence[int]) -> list[str]:
    """The image's layers that add distributions to the venv, in order, against the rendered split.

    `expected`: (layer name, canonical names) in install order; `found`: the canonical names of
    the distributions each venv layer of the image adds, bottom up; `skeleton`: the indices of
    the venv layers that hold `pyvenv.cfg` (only the first may)."""
    problems = []
    if len(found) != len(expected):
        problems.append(f"{len(found)} image layers add distributions to {VENV}; the layered venv has "
                        f"{len(expected)} ({', '.join(name for name, _ in expected)})")
    for index, ((name, wanted), got) in enumerate(zip(expected, found, strict=False), start=1):
        if missing := sorted(wanted - got):
            problems.append(f"venv layer {index} ({name}) lacks {', '.join(missing)}")
        if extra := sorted(got - wanted):
            problems.append(f"venv layer {index} ({name}) holds {', '.join(extra)}, which belong to another layer")
    if list(skeleton) != [0]:
        problems.append(f"pyvenv.cfg is in venv layers {[i + 1 for i in skeleton]}; the venv's own files belong "
                        "to layer 1 only")
    return problems
