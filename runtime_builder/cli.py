"""The command-line front: parse arguments, call the package, turn errors into exit codes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from . import log
from .generate import feed, notes, render
from .generate.specs import DEFAULT_REPOSITORY, Filters, ImageSpec, matrix_row, select
from .generate.tags import image_tags
from .matrix import lifecycle
from .matrix.model import Channel, Matrix, Platform, Release, Variant
from .matrix.schema import MatrixError, load_matrix

if TYPE_CHECKING:
    from .images.engine import Engine

ROOT = Path(__file__).resolve().parent.parent


class UsageError(Exception):
    """A command was asked for something the matrix does not have."""


def _matrix(args: argparse.Namespace) -> Matrix:
    return load_matrix(args.root / "versions.yaml")


def cmd_validate(args: argparse.Namespace) -> int:
    matrix = _matrix(args)
    print(f"versions.yaml is valid: {len(matrix.releases)} releases in {len(matrix.lines)} Runtime lines")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    matrix = _matrix(args)
    files = render.repository_tree(args.root, matrix)
    if args.check:
        drift = render.check(args.root, files)
        if not drift.clean:
            print("distributions/ does not match templates/ and versions.yaml; run `python build.py render`:",
                  file=sys.stderr)
            print(drift.report(), file=sys.stderr)
            return 1
        print(f"distributions/ is up to date ({len(files)} generated files)")
        return 0
    dropped = render.write(args.root, files)
    for path in dropped:
        print(f"dropped lock of a release or Python no longer in the matrix: {path}", file=sys.stderr)
    print(f"rendered {len(files)} files into distributions/")
    return 0


def _filters(args: argparse.Namespace) -> Filters:
    try:
        return Filters(
            versions=tuple(args.version or ()),
            lines=tuple(args.line or ()),
            channels=tuple(Channel(c) for c in args.channel or ()),
            variants=tuple(Variant(v) for v in args.variant or ()),
            pythons=tuple(args.python or ()),
            platforms=tuple(Platform.parse(p) for p in args.platform or ()),
            default_python_only=args.default_python,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error


def cmd_matrix(args: argparse.Namespace) -> int:
    matrix = _matrix(args)
    for version in args.version or ():
        matrix.release(version)  # an unknown version is an error, not an empty matrix
    specs = select(matrix, _filters(args))
    if args.newest_of_each_line:
        from .publish.publish import nightly_releases

        chosen = set(nightly_releases(matrix, newest_of_each_line=True))
        specs = [spec for spec in specs if spec.release in chosen]
    if args.changed_since:
        from .generate.changes import affected_since

        touched = set(affected_since(args.root, args.changed_since, matrix))
        specs = [spec for spec in specs if spec in touched]
    rows = [matrix_row(matrix, spec, args.repository) for spec in specs]
    if args.json:
        print(json.dumps({"include": rows}, indent=None if args.compact else 2))
    else:
        for row in rows:
            print(f"{row['version']:>8}  {row['variant']:<8} python {row['python']:<5} {row['platform']:<12} "
                  f"{' '.join(row['tags'])}")
    if not rows:
        print("no matrix cell matches these filters", file=sys.stderr)
    return 0


def cmd_tags(args: argparse.Namespace) -> int:
    matrix = _matrix(args)
    try:
        release = matrix.release(args.version)
    except LookupError as error:
        raise UsageError(str(error)) from error
    nightly = None
    if args.nightly:
        try:
            nightly = date.fromisoformat(_iso(args.date)) if args.date else date.today()
        except ValueError as error:
            raise UsageError(f"--date {args.date!r}: {error}; use YYYYMMDD or YYYY-MM-DD") from error
    pythons = [args.python] if args.python else list(release.pythons)
    variants = [Variant(args.variant)] if args.variant else list(Variant)
    for python in pythons:
        for variant in variants:
            try:
                tags = image_tags(matrix, release, python, variant, nightly)
            except ValueError as error:
                raise UsageError(str(error)) from error
            for tag in tags:
                print(f"{args.repository}:{tag.name}\t{tag.kind.value}\tpython-{python}\t{variant.value}")
    return 0


def _iso(text: str) -> str:
    """Accept YYYYMMDD (the tag's own form) as well as YYYY-MM-DD."""
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def cmd_lock(args: argparse.Namespace) -> int:
    from .lock.locks import LockError, cells, write_locks

    matrix = _matrix(args)
    try:
        platforms = tuple(Platform.parse(p) for p in args.platform or ())
        selected = cells(matrix, tuple(args.versions), tuple(args.python or ()), platforms)
    except ValueError as error:
        raise UsageError(str(error)) from error
    try:
        with log.step(f"lock {len(selected)} cells with uv"):
            written = write_locks(matrix, args.root, selected, jobs=args.jobs, only_stale=args.stale,
                                  fresh=args.fresh)
    except LockError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    if written:
        print("the release notes compare the lock files: run `python build.py render` to update them", file=sys.stderr)
    return 0


def _engine() -> Engine:
    from .images.engine import Engine
    from .images.host import ensure_engine

    ensure_engine()
    return Engine.detect()


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from .images import bootstrap
    from .images.engine import EngineError
    from .images.host import HostError, ensure_host

    matrix = _matrix(args)
    try:
        platforms = sorted({p.value for r in matrix.releases for p in r.platforms} if not args.platform
                           else {Platform.parse(p).value for p in args.platform})
    except ValueError as error:
        raise UsageError(str(error)) from error
    suites = {r.suite.name: r.suite.python for r in matrix.releases}
    if args.suite:
        unknown = sorted(set(args.suite) - set(suites))
        if unknown:
            raise UsageError(f"--suite {', '.join(unknown)}: versions.yaml uses only {', '.join(sorted(suites))}")
        suites = {name: suites[name] for name in args.suite}
    try:
        ensure_host(arm64=Platform.ARM64.value in platforms)
        digests = bootstrap.bootstrap(suites=suites, platforms=platforms, registry=args.registry,
                                      engine=_engine(), workdir=args.root / "build" / "bases", force=args.force)
    except (bootstrap.BootstrapError, EngineError, HostError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for ref, digest in sorted(digests.items()):
        print(f"{ref}@{digest}")
    return 0


def _refuse_stale_locks(args: argparse.Namespace, matrix: Matrix, specs: list) -> None:
    """Before any engine work: the locks of what is about to be built match versions.yaml and inhouse/."""
    from .lock.locks import cells, stale_locks

    contexts = {(spec.release, spec.python) for spec in specs}  # every platform's lock of each context
    stale = stale_locks(matrix, args.root, [c for c in cells(matrix) if (c.release, c.python) in contexts])
    if stale:
        listed = "\n".join(f"  {problem}" for problem in stale)
        raise UsageError(f"the lock files of what would be built are out of date:\n{listed}")


def _build_specs(args: argparse.Namespace, matrix: Matrix) -> list:
    from .images.builder import native_platform

    releases = [matrix.release(v) for v in args.versions] if args.versions else [matrix.default_release()]
    try:
        platforms = [Platform.parse(p) for p in args.platform] if args.platform else [native_platform()]
    except ValueError as error:
        raise UsageError(str(error)) from error
    variants = [Variant(v) for v in args.variant] if args.variant else list(Variant)
    specs = []
    for release in releases:
        pythons = args.python or [release.python]
        for python in pythons:
            if python not in release.pythons:
                raise UsageError(f"Runtime {release.version} does not support Python {python}; "
                                 f"supported: {', '.join(release.pythons)}")
            for platform in platforms:
                if platform not in release.platforms:
                    raise UsageError(f"Runtime {release.version} is not built for {platform.value}")
                specs += [ImageSpec(release, python, variant, platform) for variant in variants]
    return specs


def cmd_build(args: argparse.Namespace) -> int:
    from .images.bootstrap import BootstrapError
    from .images.builder import BuildOptions, BuildPlanError, build
    from .images.engine import EngineError
    from .images.host import HostError, ensure_host
    from .images.secrets import build_secrets, host_cacert, host_index_url

    matrix = _matrix(args)
    _refuse_end_of_life(args, [matrix.release(v) for v in args.versions] or [matrix.default_release()])
    specs = _build_specs(args, matrix)
    _refuse_stale_locks(args, matrix, specs)
    try:
        ensure_host(arm64=any(s.platform is Platform.ARM64 for s in specs))
        engine = _engine()
        secrets = {} if args.no_secrets else build_secrets(
            args.root / "build" / "secrets", host_cacert(args.cacert), host_index_url(args.index_url))
        options = BuildOptions(repository=args.repository, registry=args.registry,
                               python_base=args.python_base, secrets=secrets)
        built = build(matrix, args.root, specs, engine, options)
    except (BuildPlanError, BootstrapError, EngineError, HostError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\nbuilt:")
    for image in built:
        print(f"  {image.reference:<60} {image.spec.platform.value:<12} {image.seconds:6.1f}s  {image.image_id[:19]}")
    if not args.versions and not args.no_smoke:
        return _smoke(engine, matrix, built)
    return 0


def _smoke(engine: Engine, matrix: Matrix, built: list) -> int:
    """The default build ends by running Airflow in what it built, as a user would."""
    image = next(b for b in built if b.spec.variant is Variant.BASE)
    result = subprocess.run([engine.client, "run", "--rm", "--platform", image.spec.platform.value,
                             image.reference, "airflow", "version"], capture_output=True, text=True, check=False)
    printed = result.stdout.strip()
    expected = image.spec.release.airflow_build_version
    if result.returncode != 0 or printed != expected:
        print(f"error: `airflow version` in {image.reference} printed {printed!r} (exit {result.returncode}), "
              f"expected {expected}\n{result.stderr[-2000:]}", file=sys.stderr)
        return 1
    print(f"\n`docker run --rm {image.reference} airflow version` -> {printed}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Run the image test suite on image references, or on the cells a matrix filter selects."""
    matrix = _matrix(args)
    images = list(args.image or ())
    if not images:
        for spec in select(matrix, _filters(args)):
            images.append(spec.reference(args.repository))
    if not images:
        raise UsageError("no image selected: give --image REF or matrix filters that match a cell")
    argv = [sys.executable, "-m", "pytest", str(args.root / "tests" / "image"), "-p", "no:cacheprovider"]
    for image in images:
        argv += ["--image", image]
    if args.junitxml:
        argv += ["--junitxml", str(args.junitxml)]
    argv += args.pytest_args
    return subprocess.run(argv, cwd=args.root, check=False).returncode


def cmd_publish(args: argparse.Namespace) -> int:
    """Build or reuse, test, push and tag the images of versions (or tonight's nightlies)."""
    import time

    from .images.bootstrap import BootstrapError
    from .images.builder import BuildOptions, BuildPlanError
    from .images.engine import EngineError
    from .images.host import HostError, ensure_host
    from .images.secrets import build_secrets, host_cacert, host_index_url
    from .publish.publish import (
        DEFAULT_TEST_COMMAND,
        PublishError,
        PublishOptions,
        nightly_releases,
        publish,
        publish_results,
        select_images,
    )
    from .publish.registry import Registry, RegistryError, Target

    matrix = _matrix(args)
    nightly = None
    if args.nightly:
        try:
            nightly = date.fromisoformat(_iso(args.date)) if args.date else date.today()
        except ValueError as error:
            raise UsageError(f"--date {args.date!r}: {error}; use YYYYMMDD or YYYY-MM-DD") from error
    if args.versions:
        releases = [matrix.release(v) for v in args.versions]
    elif args.nightly:
        releases = nightly_releases(matrix, newest_of_each_line=args.newest_of_each_line)
    else:
        raise UsageError("name the Runtime versions to publish, or give --nightly")
    _refuse_end_of_life(args, releases)
    try:
        target = Target.parse(args.registry, args.repository)
        platforms = [Platform.parse(p) for p in args.platform or ()]
        images = select_images(matrix, releases, pythons=args.python or (), default_python=args.default_python,
                               platforms=platforms, nightly=nightly)
    except ValueError as error:
        raise UsageError(str(error)) from error
    if not args.from_results:  # this run builds: what it builds must match its locks
        _refuse_stale_locks(args, matrix, [spec for image in images for spec in image.specs()])
    started = time.monotonic()
    try:
        if args.from_results:
            # The merge job of a CI run: the cell jobs built, tested and pushed; only list and tag.
            results = _read_results(args.from_results)
            options = PublishOptions(target, BuildOptions(repository=args.repository), force=args.force)
            report = publish_results(images, results, Registry(target), options)
        else:
            ensure_host(arm64=any(Platform.ARM64 in image.platforms for image in images))
            engine = _engine()
            secrets = {} if args.no_secrets else build_secrets(
                args.root / "build" / "secrets", host_cacert(args.cacert), host_index_url(args.index_url))
            build_options = BuildOptions(repository=args.repository, registry=args.base_registry,
                                         python_base=args.python_base, secrets=secrets)
            options = PublishOptions(target, build_options, force=args.force, retest=args.retest,
                                     test_command=args.test_command or DEFAULT_TEST_COMMAND)
            report = publish(matrix, args.root, images, engine, Registry(target), options)
    except (PublishError, BuildPlanError, BootstrapError, EngineError, HostError, RegistryError,
            FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    rows = [(str(p.image.release.version), tag.name, p.list_digest, p.platforms, p.bases)
            for p in report.images for tag in p.image.tags]
    written = [feed.published_path(args.root, str(target))]
    if args.write_feed:
        written.append(args.root / feed.FEED_FILE)
    feed_target = Target(target.host, target.repository + feed.ARTIFACT_SUFFIX)
    feed_registry = Registry(feed_target)
    try:
        # Start from the feed published beside the images, so runs on other machines add up.
        remote = feed_registry.artifact(feed.ARTIFACT_TAG)
    except RegistryError as error:
        print(f"error: reading the published feed {feed_target.ref(feed.ARTIFACT_TAG)}: {error}", file=sys.stderr)
        return 1
    published = json.loads(remote) if remote else None
    documents = []
    for path in written:
        if path.name == feed.FEED_FILE:  # the committed feed: every repository it records
            previous = feed.load(path)
        else:  # this repository's feed: the registry's copy is the one of record
            previous = published or feed.load(path) or feed.load(args.root / feed.FEED_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        documents.append(feed.dumps(feed.record_images(feed.build_feed(matrix, previous), str(target), rows)))
        path.write_text(documents[-1])
    if args.write_feed:  # the release notes list the base digests the committed feed now records
        render.write(args.root, render.repository_tree(args.root, matrix))
    document = documents[0]
    try:
        digest = feed_registry.put_artifact(feed.ARTIFACT_TAG, document.encode(), artifact_type=feed.ARTIFACT_TYPE,
                                            media_type="application/json", title=feed.FEED_FILE)
    except RegistryError as error:
        print(f"error: the images and tags are published, but the feed is not: {error}; "
              "run publish again to retry", file=sys.stderr)
        return 1
    assert report.plan is not None
    print(f"\npublished to {target} in {time.monotonic() - started:.1f}s: built {report.built}, "
          f"reused {report.reused}, tested {report.tested} (skipped {report.tests_skipped}), "
          f"pushed {report.pushed} (already there {report.push_skipped})")
    for change in report.plan.changes:
        print(f"  {change.action.value:<6} {change.tag.kind.value:<9} {target.ref(change.tag.name):<60} "
              f"{change.wanted}")
    print(f"feed: {', '.join(str(p) for p in written)}, and {feed_target.ref(feed.ARTIFACT_TAG)}@{digest}")
    return 0


def _read_results(directory: Path) -> list[dict]:
    """The cell jobs' result records (`build.py push --result`), one JSON file per cell."""
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not files:
        raise UsageError(f"--from-results {directory}: no result files (*.json) there")
    results = []
    for path in files:
        try:
            results.append(json.loads(path.read_text()))
        except json.JSONDecodeError as error:
            raise UsageError(f"{path}: not JSON ({error})") from error
    return results


def cmd_push(args: argparse.Namespace) -> int:
    """Push one built and tested cell by digest (under its staging tag), for a CI merge job."""
    from .images.builder import BuildOptions
    from .images.engine import EngineError
    from .publish.publish import PublishError, PublishOptions, push_cell
    from .publish.registry import Registry, RegistryError, Target

    matrix = _matrix(args)
    release = matrix.release(args.version)
    python = args.python or release.python
    try:
        platform = Platform.parse(args.platform)
        target = Target.parse(args.registry, args.repository)
    except ValueError as error:
        raise UsageError(str(error)) from error
    if python not in release.pythons or platform not in release.platforms:
        raise UsageError(f"Runtime {release.version} has no cell python {python} {platform.value}")
    spec = ImageSpec(release, python, Variant(args.variant), platform)
    options = PublishOptions(target, BuildOptions(repository=args.repository))
    try:
        record = push_cell(spec, _engine(), Registry(target), options)
    except (PublishError, EngineError, RegistryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.result:
        # Merge into the cell's result file (the CI step that records build and test outcomes).
        previous = json.loads(args.result.read_text()) if args.result.exists() else {}
        args.result.parent.mkdir(parents=True, exist_ok=True)
        args.result.write_text(json.dumps({**previous, **record}, indent=2) + "\n")
    print(f"pushed {record['image']} as {record['pushed']} ({record['digest']})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Build a project on a Runtime version's ONBUILD image and deploy it locally."""
    from .deploy import local, services
    from .deploy.config import Executor
    from .deploy.deployment import DeployError
    from .deploy.project import ProjectError, check_folder
    from .images.bootstrap import BootstrapError
    from .images.builder import BuildOptions, BuildPlanError, build, native_platform
    from .images.engine import EngineError
    from .images.host import HostError, ensure_host
    from .images.secrets import build_secrets, host_cacert, host_index_url

    if args.stop:
        _engine()
        removed = local.stop(args.name)
        print(f"removed {', '.join(removed)}" if removed else "no deployment of `build.py run` is running")
        return 0
    if args.project is None:
        raise UsageError("run needs --project DIR (or --stop)")
    matrix = _matrix(args)
    release = matrix.release(args.version) if args.version else matrix.default_release()
    try:
        check_folder(args.project)
        if args.port is not None:
            local.check_port(args.port)
    except (ProjectError, DeployError) as error:
        raise UsageError(str(error)) from error
    _refuse_end_of_life(args, [release])
    spec = ImageSpec(release, release.python, Variant.ONBUILD, native_platform())
    _refuse_stale_locks(args, matrix, [spec])
    try:
        ensure_host(arm64=False)
        engine = _engine()
        secrets = build_secrets(args.root / "build" / "secrets", host_cacert(args.cacert),
                                host_index_url(args.index_url))
        built = build(matrix, args.root, [spec], engine, BuildOptions(repository=args.repository, secrets=secrets))
        images = services.ensure_images(engine, args.registry, args.root / "build" / "bases")
        request = local.RunRequest(args.project.resolve(), built[-1].reference, str(release.version),
                                   spec.platform.value, Executor(args.executor), args.port, args.detach, args.name)
        return local.run(request, engine, images, secrets, args.root / "build" / "logs")
    except (BuildPlanError, BootstrapError, EngineError, HostError, ProjectError, DeployError) as error:
        print(f"error: {error}", file=sys.stderr)
        print("nothing was left running", file=sys.stderr)
        return 1


def cmd_feed(args: argparse.Namespace) -> int:
    """Write releases.json from the matrix (keeping the published digests it holds), or check it."""

    path = args.root / feed.FEED_FILE
    document = feed.build_feed(_matrix(args), feed.load(path))
    for published in sorted(args.merge.rglob("*.json")) if args.merge else ():
        # What publish jobs recorded (build/feed/<repository>.json), e.g. from CI artifacts.
        try:
            rows = feed.published_rows(json.loads(published.read_text()))
        except (json.JSONDecodeError, KeyError, AttributeError) as error:
            raise UsageError(f"--merge: {published} is not a release feed ({error})") from error
        for repository, found in rows.items():
            versions = {entry["version"] for entry in document["releases"]}
            document = feed.record_images(document, repository, [r for r in found if r[0] in versions])
    wanted = feed.dumps(document)
    if args.check:
        if path.exists() and path.read_text() == wanted:
            print(f"{feed.FEED_FILE} is up to date")
            return 0
        print(f"{feed.FEED_FILE} does not match versions.yaml; run `python build.py feed`", file=sys.stderr)
        return 1
    path.write_text(wanted)
    print(f"wrote {feed.FEED_FILE}")
    return 0


def _day(option: str, text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(_iso(text))
    except ValueError as error:
        raise UsageError(f"{option} {text!r}: {error}; use YYYY-MM-DD or YYYYMMDD") from error


def cmd_lifecycle(args: argparse.Namespace) -> int:
    """Every Runtime version with its lifecycle dates and where it stands on a day (default today)."""
    as_of = _day("--as-of", args.as_of)
    rows = lifecycle.table(_matrix(args), as_of)
    if args.json:
        print(json.dumps(lifecycle.as_json(rows, as_of), indent=2))
    else:
        sys.stdout.write(lifecycle.as_text(rows, as_of))
    return 0


def _refuse_end_of_life(args: argparse.Namespace, releases: Sequence[Release]) -> None:
    """Building or publishing an end-of-life version needs --force-eol."""
    refusal = lifecycle.end_of_life_refusal(releases, date.today())
    if refusal and not args.force_eol:
        raise UsageError(refusal)


def cmd_notes(args: argparse.Namespace) -> int:
    """Print a version's release notes (`render` writes them), or check the committed ones."""
    matrix = _matrix(args)
    release = matrix.release(args.version)
    since = matrix.release(args.since) if args.since else notes.default_since(matrix, release)
    if since == release:
        raise UsageError(f"--since {args.since}: a release is not compared with itself")
    if args.check and since != notes.default_since(matrix, release):
        raise UsageError("--check compares the committed notes, which are since the default release; drop --since")
    files = render.render_notes(args.root / "templates", release, since, notes.read_locks(args.root, matrix),
                                published=feed.load(args.root / feed.FEED_FILE))
    if not files:
        raise UsageError(f"no release notes template in {args.root / 'templates' / render.NOTES_DIR}")
    if args.check:
        stale = [path for path, rendered in sorted(files.items())
                 if not (args.root / path).is_file() or (args.root / path).read_bytes() != rendered.content]
        for path in stale:
            print(f"{path} is not up to date; run `python build.py render`", file=sys.stderr)
        if not stale:
            print(f"{', '.join(str(path) for path in sorted(files))}: up to date")
        return 1 if stale else 0
    for rendered in files.values():
        sys.stdout.write(rendered.content.decode())
    return 0


def cmd_new_version(args: argparse.Namespace) -> int:
    """Cut the next patch, minor or major into versions.yaml, then lock it, render and write the feed."""
    from .lock.locks import LockError
    from .release import newversion

    request = newversion.Request(bump=newversion.Bump(args.bump), released=_day("--date", args.date),
                                 base=args.base, airflow=args.airflow, upgrade_providers=args.upgrade_providers)
    path = args.root / newversion.MATRIX_FILE
    try:
        source = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from error
    try:
        plan = newversion.plan(source, request, root=args.root)
    except newversion.NewVersionError as error:
        raise UsageError(str(error)) from error
    sys.stdout.write(newversion.report(plan))
    if args.dry_run:
        print("dry run: nothing was written")
        return 0
    lock_writer = None if args.no_lock else newversion.write_locks_of
    try:
        with log.step(f"write Runtime {plan.version}: versions.yaml, locks, distributions/, releases.json"):
            written = newversion.apply(args.root, plan, lock_writer)
    except newversion.NewVersionError as error:
        raise UsageError(str(error)) from error
    except LockError as error:
        print(f"error: {error}\nversions.yaml was put back as it was; nothing was written", file=sys.stderr)
        return 1
    locks = f"{len(written.locks)} lock files"
    if args.no_lock:
        locks = f"no lock files (--no-lock: run `python build.py lock {plan.version}`, then render)"
    print(f"wrote versions.yaml, {locks}, {written.rendered} files rendered into distributions/, releases.json")
    return 0


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="append", help="a Runtime version (repeatable)")
    parser.add_argument("--line", action="append", type=int, help="a Runtime line, i.e. major (repeatable)")
    parser.add_argument("--channel", action="append", choices=[c.value for c in Channel])
    parser.add_argument("--variant", action="append", choices=[v.value for v in Variant])
    parser.add_argument("--python", action="append", help="a Python version such as 3.13 (repeatable)")
    parser.add_argument("--platform", action="append", help="linux/amd64 or linux/arm64 (repeatable)")
    parser.add_argument("--default-python", action="store_true", help="only each release's default Python")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="build.py", description="Build the Airflow Runtime images.")
    top.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    top.add_argument("--repository", default=DEFAULT_REPOSITORY, help="image repository name (default: %(default)s)")
    sub = top.add_subparsers(dest="command", required=True)

    sub.add_parser("validate", help="check versions.yaml against the schema and the versioning rules")

    p = sub.add_parser("render", help="render templates/ into distributions/")
    p.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")

    p = sub.add_parser("matrix", help="print the build matrix (one row per version, variant, python, platform)")
    p.add_argument("--json", action="store_true", help="JSON for CI: {\"include\": [rows]}")
    p.add_argument("--compact", action="store_true", help="JSON on one line (for GitHub outputs)")
    p.add_argument("--changed-since", metavar="REV",
                   help="only the cells the change since this git revision touches (pull request builds)")
    p.add_argument("--newest-of-each-line", action="store_true",
                   help="only the newest release of every line and the nightlies (what the nightly deploys)")
    _add_filters(p)

    p = sub.add_parser("tags", help="print every tag the images of a version get")
    p.add_argument("version")
    p.add_argument("--python")
    p.add_argument("--variant", choices=[v.value for v in Variant])
    p.add_argument("--nightly", action="store_true", help="the nightly tags instead")
    p.add_argument("--date", help="the nightly date, YYYYMMDD or YYYY-MM-DD (default: today)")

    p = sub.add_parser("lock", help="resolve hash-pinned lock files with uv")
    p.add_argument("versions", nargs="*", help="Runtime versions (default: all)")
    p.add_argument("--python", action="append")
    p.add_argument("--platform", action="append")
    p.add_argument("--jobs", type=int, default=4, help="parallel resolutions (default: %(default)s)")
    p.add_argument("--stale", action="store_true", help="only cells whose lock is missing or out of date")
    p.add_argument("--fresh", action="store_true", help="resolve anew, not keeping the pins of the existing lock "
                                                        "(or of the previous release's)")

    p = sub.add_parser("bootstrap", help="make Debian and Python base images offline, into the local registry")
    p.add_argument("--suite", action="append", help="only this Debian suite (repeatable)")
    p.add_argument("--platform", action="append")
    p.add_argument("--registry", default="127.0.0.1:5000")
    p.add_argument("--force", action="store_true", help="rebuild even if the registry has them")

    p = sub.add_parser("build", help="build images (default: the newest stable release, default Python, "
                                     "native platform, base and ONBUILD, then run `airflow version` in it)")
    p.add_argument("versions", nargs="*")
    p.add_argument("--variant", action="append", choices=[v.value for v in Variant])
    p.add_argument("--python", action="append")
    p.add_argument("--platform", action="append")
    p.add_argument("--registry", default="127.0.0.1:5000", help="where base images live (default: %(default)s)")
    p.add_argument("--python-base", help="an upstream Python base image instead of the bootstrapped one, "
                                         "e.g. python:3.12-slim-bookworm from a registry mirror")
    p.add_argument("--cacert", type=Path, help="CA bundle for PyPI inside the build (default: the host's)")
    p.add_argument("--index-url", help="package index for the build (default: the host's pip/uv configuration)")
    p.add_argument("--no-secrets", action="store_true", help="pass neither CA bundle nor index URL")
    p.add_argument("--no-smoke", action="store_true", help="do not run `airflow version` after the default build")
    p.add_argument("--force-eol", action="store_true", help="build a version even if it is end of life")
    p = sub.add_parser("test", help="run the image tests (testinfra) on images or matrix cells")
    p.add_argument("--image", action="append", help="an image reference (repeatable)")
    p.add_argument("--junitxml", type=Path, help="write per-image results as JUnit XML")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    _add_filters(p)
    p = sub.add_parser("publish", help="build or reuse, test, push and tag the images of versions "
                                       "(multi-arch manifest lists; floating tags move last)")
    p.add_argument("versions", nargs="*", help="Runtime versions (with --nightly: default the nightly channel)")
    p.add_argument("--registry", required=True, help="where to publish: host[/repository], e.g. "
                                                     "127.0.0.1:5000/airflow-runtime or quay.io/org/runtime")
    p.add_argument("--python", action="append", help="only this Python (repeatable; default: all)")
    p.add_argument("--default-python", action="store_true", help="only each release's default Python")
    p.add_argument("--platform", action="append", help="only this platform (repeatable; default: all)")
    p.add_argument("--force", action="store_true", help="overwrite immutable tags that name other images")
    p.add_argument("--nightly", action="store_true", help="nightly tags only (X.Y.Z-nightly-YYYYMMDD)")
    p.add_argument("--date", help="the nightly date, YYYYMMDD or YYYY-MM-DD (default: today)")
    p.add_argument("--newest-of-each-line", action="store_true", help="with --nightly: also each line's newest release")
    p.add_argument("--write-feed", action="store_true", help="also record the digests in releases.json")
    p.add_argument("--test-command", help="tests one image; {image} is its reference "
                                          "(default: build.py test --image {image})")
    p.add_argument("--retest", action="store_true", help="test again images whose tests passed before")
    p.add_argument("--base-registry", default="127.0.0.1:5000", help="where base images live (default: %(default)s)")
    p.add_argument("--python-base", help="an upstream Python base image instead of the bootstrapped one")
    p.add_argument("--cacert", type=Path, help="CA bundle for PyPI inside the build (default: the host's)")
    p.add_argument("--index-url", help="package index for the build (default: the host's pip/uv configuration)")
    p.add_argument("--no-secrets", action="store_true", help="pass neither CA bundle nor index URL")

    p.add_argument("--force-eol", action="store_true", help="publish a version even if it is end of life")
    p.add_argument("--from-results", type=Path, metavar="DIR",
                   help="build and test nothing: make the lists and tags from what CI cell jobs pushed "
                        "(their `build.py push --result` files in DIR)")

    p = sub.add_parser("push", help="push one built and tested cell by digest, for a later `publish --from-results`")
    p.add_argument("version", help="the Runtime version")
    p.add_argument("--python", help="default: the release's default Python")
    p.add_argument("--variant", choices=[v.value for v in Variant], default=Variant.BASE.value)
    p.add_argument("--platform", required=True, help="linux/amd64 or linux/arm64")
    p.add_argument("--registry", required=True, help="host[/repository], as for publish")
    p.add_argument("--result", type=Path, help="merge the pushed digest into this JSON result file")

    p = sub.add_parser("run", help="build a project on a Runtime version's ONBUILD image and deploy it locally "
                                   "(PostgreSQL, Redis, every Airflow component) until Ctrl-C")
    p.add_argument("version", nargs="?", help="the Runtime version (default: the default release)")
    p.add_argument("--project", type=Path, help="the project folder (Dockerfile, packages.txt, requirements.txt, "
                                                "dags/)")
    p.add_argument("--executor", choices=["celery", "local"], default="celery")
    p.add_argument("--port", type=int, help="the UI's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--detach", action="store_true", help="leave it running and return")
    p.add_argument("--stop", action="store_true", help="remove what `run` started (all, or --name)")
    p.add_argument("--name", help="the deployment's name (default: airflow-<random>)")
    p.add_argument("--registry", default="127.0.0.1:5000", help="where base images live (default: %(default)s)")
    p.add_argument("--cacert", type=Path, help="CA bundle for PyPI inside the build (default: the host's)")
    p.add_argument("--index-url", help="package index for the build (default: the host's pip/uv configuration)")
    p.add_argument("--force-eol", action="store_true", help="run a version even if it is end of life")

    p = sub.add_parser("feed", help="write releases.json (the release feed) from versions.yaml")
    p.add_argument("--check", action="store_true", help="only check that releases.json is up to date")
    p.add_argument("--merge", type=Path, metavar="DIR",
                   help="also record the image digests of the feeds publish wrote (build/feed/*.json) under DIR")

    p = sub.add_parser("lifecycle", help="every Runtime version's lifecycle dates and status on a day")
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="the day to judge the status on (default: today)")
    p.add_argument("--json", action="store_true", help="JSON: {\"as_of\": ..., \"releases\": [rows]}")

    p = sub.add_parser("notes", help="print a version's release notes (`render` writes them to "
                                     "distributions/<version>/RELEASE_NOTES.md)")
    p.add_argument("version", help="the Runtime version")
    p.add_argument("--since", metavar="VERSION", help="compare with this version (default: the previous "
                                                     "non-yanked release, or the previous line's newest)")
    p.add_argument("--check", action="store_true", help="only check that the committed notes are up to date")

    p = sub.add_parser("new-version", help="cut the next Runtime patch, minor or major into versions.yaml, "
                                           "then lock, render and write releases.json")
    bump = p.add_mutually_exclusive_group(required=True)
    for kind in ("patch", "minor", "major"):
        bump.add_argument(f"--{kind}", dest="bump", action="store_const", const=kind, help=f"a {kind} release")
    p.add_argument("--from", dest="base", metavar="X.Y.Z", help="the release to cut from (default: the newest "
                                                             "released version of the default release's line; "
                                                             "for --major, of the newest line)")
    p.add_argument("--airflow", metavar="A.B.C", help="the new release's Airflow (required with --major)")
    p.add_argument("--upgrade-providers", action="store_true",
                   help="move each pin to the newest version the policy allows that resolves with the Airflow")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="the release date (default: today)")
    p.add_argument("--dry-run", action="store_true", help="show the change to versions.yaml; write nothing")
    p.add_argument("--no-lock", action="store_true", help="write no lock files (offline); lock and render later")
    return top


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": cmd_validate,
    "render": cmd_render,
    "matrix": cmd_matrix,
    "tags": cmd_tags,
    "lock": cmd_lock,
    "bootstrap": cmd_bootstrap,
    "build": cmd_build,
    "test": cmd_test,
    "publish": cmd_publish,
    "push": cmd_push,
    "run": cmd_run,
    "feed": cmd_feed,
    "lifecycle": cmd_lifecycle,
    "notes": cmd_notes,
    "new-version": cmd_new_version,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except MatrixError as error:
        print(f"versions.yaml is invalid ({len(error.problems)} problems):", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem.render(error.filename)}", file=sys.stderr)
        return 2
    except (UsageError, LookupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except jinja2.TemplateError as error:
        where = f"{error.name}:{error.lineno}" if isinstance(error, jinja2.TemplateSyntaxError) else "templates/"
        print(f"error: rendering failed in {where}: {error}; distributions/ was not changed", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
