"""`dev export` and `dev import`: connections, pools and Variables between the project's running
deployment and its airflow_settings.yaml (as `astro dev object export / import`).

export runs Airflow's own export commands in the scheduler's container (settings_export.py) and
merges what they print into the file: entries of the same name are replaced, the file's others
stay. import runs Airflow's import commands on the file (settings.py), as the first start does:
an entry that exists is updated. Both name entries, never values.
"""

from __future__ import annotations

from collections.abc import Callable

from ..deploy import settings, settings_export
from ..errors import UsageError
from . import session

EXPORTED_FROM = "scheduler"


def export(options: session.DevOptions, sections: tuple[str, ...] = settings_export.SECTIONS,
           write: Callable[[str], None] = print) -> int:
    deployment = session.require(options)
    if not deployment.running:
        raise UsageError(f"{deployment.name} is not running: `dev start` first")
    code, output = deployment.engine.exec(deployment.containers[EXPORTED_FROM], list(settings_export.EXPORT_COMMAND),
                                          stdout_only=True)
    if code != 0:
        _, log = deployment.exec(EXPORTED_FROM, list(settings_export.EXPORT_COMMAND))
        raise UsageError(f"{deployment.name}: Airflow's export commands failed (exit {code}):\n{log[-2000:]}")
    source = f"the export of {deployment.name}"
    exported = settings_export.from_export(output, source)
    path = options.settings_path
    existing = path.read_text(encoding="utf-8-sig") if path.is_file() else None
    before = settings.parse(existing, str(path)) if existing is not None else settings.AirflowSettings()
    after = settings_export.merge(before, exported, set(sections))
    text = settings_export.to_yaml(after, existing)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(0o600)  # it holds passwords
    temporary.replace(path)  # all or nothing: the file is never half-written
    for line in settings_export.changes(before, after):
        write(f"  {line}")
    lost = [line for line in settings_export.dropped(output, source) if line.split(" ", 1)[0] + "s" in sections]
    if lost:
        write(f"not in {path.name} (it has no field for them): {', '.join(lost)}")
    write(f"wrote {path}")
    return 0


def import_(options: session.DevOptions, write: Callable[[str], None] = print) -> int:
    deployment = session.require(options)
    if not deployment.running:
        raise UsageError(f"{deployment.name} is not running: `dev start` first")
    path = options.settings_path
    if not path.is_file():
        raise UsageError(f"{path}: no such file (`dev export` writes one from the deployment)")
    found = settings.load_file(path)
    if not found:
        write(f"{path}: no connections, pools or Variables to import")
        return 0
    deployment.import_settings(found, write)
    write(f"imported {found.summary()} into {deployment.name}")
    return 0
