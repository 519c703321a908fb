"""The command-line front: parse the arguments, call one function per command, print.

Every decision lives in the stage packages; an error a user can act on is a BuilderError
with its exit code (`errors`), caught once in `main`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import date

from . import log
from .arguments import day, parse_arguments
from .dev import commands as dev_commands
from .errors import BuilderError, MatrixError, UsageError
from .generate import feed, frozen, render
from .generate.specs import Filters, matrix_row, nightly_releases, select
from .generate.tags import image_tags
from .layout import RELEASED_CONTEXTS, Layout
from .matrix import lifecycle
from .matrix.load import load_matrix
from .matrix.model import Channel, Matrix, Platform, Variant


def _matrix(args: argparse.Namespace) -> Matrix:
    return load_matrix(Layout(args.root).versions_file)


def _platforms(values: Sequence[str] | None) -> list[Platform]:
    try:
        return [Platform.parse(value) for value in values or ()]
    except ValueError as error:
        raise UsageError(str(error)) from error


def _filters(args: argparse.Namespace) -> Filters:
    return Filters(versions=tuple(args.version or ()), lines=tuple(args.line or ()),
                   channels=tuple(Channel(c) for c in args.channel or ()),
                   variants=tuple(Variant(v) for v in args.variant or ()), pythons=tuple(args.python or ()),
                   platforms=tuple(_platforms(args.platform)), default_python_only=args.default_python)


def cmd_setup(args: argparse.Namespace) -> int:
    """Set a Debian host up: the one command that installs packages or starts daemons."""
    from .images import host

    platforms = _platforms(args.platform)
    engine = host.setup(arm64=Platform.ARM64 in platforms, tests=args.for_tests)
    print(f"the host is ready: {engine.client} ({engine.driver} BuildKit), the local registry"
          f"{', arm64 emulation' if Platform.ARM64 in platforms else ''}"
          f"{', Compose and Chromium for the tests' if args.for_tests else ''}")
    return 0


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
            print("distributions/ does not match templates/, versions.yaml and locks/; run `python build.py render`:",
                  file=sys.stderr)
            print(drift.report(), file=sys.stderr)
            return 1
        print(f"distributions/ is up to date ({len(files)} generated files; the build contexts of "
              f"{len(frozen.read(args.root))} released versions frozen)")
        return 0
    render.write(args.root, files)
    print(f"rendered {len(files)} files into distributions/")
    return 0


def cmd_freeze(args: argparse.Namespace) -> int:
    """Record released versions' build contexts as released: render keeps them as they are from then on."""
    matrix = _matrix(args)
    unfrozen = frozen.unfrozen(matrix, frozen.read(args.root))
    if args.check:
        frozen.load(args.root, matrix)  # every frozen context is what it was released with
        if unfrozen:
            print(f"released but not frozen: {', '.join(unfrozen)}; record their build contexts with "
                  f"`python build.py freeze {' '.join(unfrozen)}`", file=sys.stderr)
            return 1
        print(f"every released version's build context is frozen ({len(frozen.read(args.root))}) and unchanged")
        return 0
    versions = args.versions or unfrozen
    for version in versions:
        frozen.released(matrix, version)  # an unknown version or a nightly: said before anything is rendered
    if not versions:
        print(f"every released version is frozen already ({len(frozen.read(args.root))}); nothing to do")
        return 0
    frozen.freeze(args.root, matrix, versions, render.repository_tree(args.root, matrix))
    print(f"froze the build contexts of {', '.join(versions)} in {RELEASED_CONTEXTS}")
    return 0


def cmd_matrix(args: argparse.Namespace) -> int:
    matrix = _matrix(args)
    for version in args.version or ():
        matrix.release(version)  # an unknown version is an error, not an empty matrix
    specs = select(matrix, _filters(args))
    if args.newest_of_each_line:
        chosen = set(nightly_releases(matrix, newest_of_each_line=True))
        specs = [spec for spec in specs if spec.release in chosen]
    if args.changed_since:
        from .generate.touched import affected_since

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
    release = matrix.release(args.version)
    if args.date and not args.nightly:
        raise UsageError(f"--date {args.date}: a date names nightly tags only; add --nightly")
    nightly = day("--date", args.date) if args.nightly else None
    rows = []
    for python in [args.python] if args.python else list(release.pythons):
        for variant in [Variant(args.variant)] if args.variant else list(release.variants):
            try:
                tags = image_tags(matrix, release, python, variant, nightly)
            except ValueError as error:
                raise UsageError(str(error)) from error
            rows += [{"image": f"{args.repository}:{tag.name}", "tag": tag.name, "kind": tag.kind.value,
                      "python": python, "variant": variant.value} for tag in tags]
    for row in [] if args.json else rows:
        print(f"{row['image']}\t{row['kind']}\tpython-{row['python']}\t{row['variant']}")
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    from .lock.locks import cells, write_locks

    matrix = _matrix(args)
    released = frozen.read(args.root)
    refused = [version for version in args.versions if version in released]
    if refused:
        raise UsageError(f"{', '.join(refused)}: released, and the lock files are part of the frozen build context "
                         f"({RELEASED_CONTEXTS}); a new lock needs a new release (`new-version`)")
    selected = [cell for cell in cells(matrix, tuple(args.versions), tuple(args.python or ()),
                                       tuple(_platforms(args.platform)))
                if str(cell.release.version) not in released]
    with log.step(f"lock {len(selected)} cells with uv (released versions' locks are frozen)"):
        written = write_locks(matrix, args.root, selected, jobs=args.jobs, only_stale=args.stale, fresh=args.fresh)
    for path in written:
        print(f"wrote {path}")
    if written:
        print("the build contexts and release notes are rendered from the lock files: run `python build.py render`",
              file=sys.stderr)
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from .images import bootstrap, host

    matrix = _matrix(args)
    platforms = sorted({p.value for p in _platforms(args.platform)}
                       or {p.value for r in matrix.releases for p in r.platforms})
    suites = bootstrap.suites_of(matrix, args.suite or ())
    engine = host.require(arm64=Platform.ARM64.value in platforms)
    digests = bootstrap.bootstrap(suites=suites, platforms=platforms, registry=args.registry, engine=engine,
                                  workdir=Layout(args.root).bases, force=args.force)
    for ref, digest in sorted(digests.items()):
        print(f"{ref}@{digest}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from .images import builder, host
    from .images.secrets import for_build

    matrix = _matrix(args)
    specs = builder.select(matrix, args.versions, [Variant(v) for v in args.variant or ()], args.python or (),
                           _platforms(args.platform))
    lifecycle.refuse_end_of_life(builder.releases_of(specs), date.today(), args.force_eol)
    builder.refuse_stale(matrix, args.root, specs)
    engine = host.require(arm64=any(s.platform is Platform.ARM64 for s in specs))
    with for_build(Layout(args.root).secrets, args.cacert, args.index_url, not args.no_secrets) as secrets:
        built = builder.build(matrix, args.root, specs, engine,
                              builder.BuildOptions(args.repository, args.registry, args.python_base, secrets))
    if args.json:
        print(json.dumps([{"image": i.reference, "platform": i.spec.platform.value, "seconds": round(i.seconds, 1),
                           "image_id": i.image_id, "log": str(builder.log_path(args.root, i.reference))}
                          for i in built], indent=2))
        return 0
    print("\nbuilt (BuildKit's output of each in build/logs/):")
    for image in built:
        print(f"  {image.reference:<60} {image.spec.platform.value:<12} {image.seconds:6.1f}s  {image.image_id[:19]}")
    if not args.versions and not args.no_smoke:
        print("\n" + builder.smoke(engine, built))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """The image tests on images, on matrix cells, or on what `build` builds by default."""
    import subprocess

    from .images import builder, host
    from .images.engine import Engine

    matrix = _matrix(args)
    images = list(args.image or ())
    if not images:
        filtered = any((args.version, args.line, args.channel, args.variant, args.python, args.platform,
                        args.default_python))
        specs = select(matrix, _filters(args)) if filtered else builder.select(matrix)
        images = [spec.reference(args.repository) for spec in specs]
    if not images:
        raise UsageError("no image selected: give --image REF or matrix filters that match a cell")
    host.require(registry=False)
    builder.require_built(Engine.detect(), images)
    argv = [sys.executable, "-m", "pytest", str(args.root / "tests" / "image"), "-p", "no:cacheprovider"]
    for image in images:
        argv += ["--image", image]
    if args.junitxml:
        argv += ["--junitxml", str(args.junitxml)]
    return subprocess.run([*argv, *args.pytest_args], cwd=args.root, check=False).returncode


def cmd_publish(args: argparse.Namespace) -> int:
    """Build or reuse, test, push and tag the images of versions (or tonight's nightlies)."""
    from .publish import runs, signing

    request = runs.Request(
        registry=args.registry, versions=tuple(args.versions), nightly=day("--date", args.date) if args.nightly
        else None, newest_of_each_line=args.newest_of_each_line, pythons=tuple(args.python or ()),
        default_python=args.default_python, platforms=tuple(_platforms(args.platform)),
        variants=tuple(Variant(v) for v in args.variant or ()), repository=args.repository,
        force=args.force, force_eol=args.force_eol, write_feed=args.write_feed, from_results=args.from_results,
        retest=args.retest, test_command=args.test_command or runs.DEFAULT_TEST_COMMAND,
        base_registry=args.base_registry, python_base=args.python_base, secrets=not args.no_secrets,
        cacert=args.cacert, index_url=args.index_url, unsigned=args.unsigned,
        signer=None if args.unsigned else signing.load_signer(args.signing_key, os.environ))
    outcome = runs.run(args.root, _matrix(args), request)
    report, target = outcome.report, outcome.target
    if args.json:
        print(json.dumps({"target": str(target), "seconds": round(outcome.seconds, 1), "built": report.built,
                          "reused": report.reused, "tested": report.tested, "tests_skipped": report.tests_skipped,
                          "pushed": report.pushed, "push_skipped": report.push_skipped,
                          "tags": [{"action": c.action.value, "kind": c.tag.kind.value, "image": target.ref(c.tag.name),
                                    "digest": c.wanted} for c in (report.plan.changes if report.plan else ())],
                          "feed": [str(p) for p in outcome.recorded.written] + [outcome.recorded.artifact],
                          "upgrades": [str(u) for u in outcome.upgrades]}, indent=2))
        return 0
    print(f"\npublished to {target} in {outcome.seconds:.1f}s: built {report.built}, reused {report.reused}, "
          f"tested {report.tested} (skipped {report.tests_skipped}), pushed {report.pushed} "
          f"(already there {report.push_skipped})")
    for change in report.plan.changes if report.plan else ():
        print(f"  {change.action.value:<6} {change.tag.kind.value:<9} {target.ref(change.tag.name):<60} "
              f"{change.wanted}")
    print(f"feed: {', '.join(str(p) for p in outcome.recorded.written)}, and {outcome.recorded.artifact}")
    if outcome.upgrades:
        print("upgrade pulls (compressed layers a host with the previous release of the line fetches):")
        for upgrade in outcome.upgrades:
            print(f"  {upgrade}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    """Push one built and tested cell by digest (under its staging tag), for a CI merge job."""
    from .images import host
    from .publish import runs

    record = runs.push(args.root, _matrix(args), lambda: host.require(registry=False), args.version, args.python,
                       Variant(args.variant), args.platform, args.registry, args.repository, args.result)
    print(f"pushed {record['image']} as {record['pushed']} ({record['digest']})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Build a project on a Runtime version's ONBUILD image and deploy it locally."""
    from .deploy import local
    from .deploy.config import Executor

    if args.stop:
        from .images import host

        host.require(registry=False)
        removed = local.stop(args.name)
        print(f"removed {', '.join(removed)}" if removed else "no deployment of `build.py run` is running")
        return 0
    if args.project is None:
        raise UsageError("run needs --project DIR (or --stop)")
    matrix = _matrix(args)
    image = local.project_image(matrix, args.project.resolve(), args.version, args.repository)
    lifecycle.refuse_end_of_life([image.release], date.today(), args.force_eol)
    platform = _platforms([args.platform])[0] if args.platform else Platform.native()
    options = local.RunOptions(args.project.resolve(), Executor(args.executor), args.port, args.detach, args.name,
                               args.repository, args.registry, args.cacert, args.index_url, platform,
                               check_dags=not args.skip_dag_check)
    return local.run(args.root, matrix, image, options)


def cmd_feed(args: argparse.Namespace) -> int:
    """Write releases.json from the matrix (keeping the published digests it holds), or check it."""
    matrix = _matrix(args)
    published = feed.merged(args.merge) if args.merge else {}
    path = Layout(args.root).feed_file
    if args.check:
        if feed.is_current(args.root, matrix):
            print(f"{path.name} is up to date")
            return 0
        print(f"{path.name} does not match versions.yaml; run `python build.py feed`", file=sys.stderr)
        return 1
    feed.write(args.root, matrix, published)
    print(f"wrote {path.name}")
    return 0


def cmd_lifecycle(args: argparse.Namespace) -> int:
    """Every Runtime version with its lifecycle dates and where it stands on a day (default today)."""
    as_of = day("--as-of", args.as_of)
    rows = lifecycle.table(_matrix(args), as_of)
    if args.json:
        print(json.dumps(lifecycle.as_json(rows, as_of), indent=2))
    else:
        sys.stdout.write(lifecycle.as_text(rows, as_of))
    return 0


def cmd_notes(args: argparse.Namespace) -> int:
    """Print a version's release notes (`render` writes them), or check the committed ones."""
    from .generate import notes
    from .lock.locks import read_locks

    matrix = _matrix(args)
    release = matrix.release(args.version)
    since = matrix.release(args.since) if args.since else notes.default_since(matrix, release)
    if since == release:
        raise UsageError(f"--since {args.since}: a release is not compared with itself")
    if since.version > release.version:
        raise UsageError(f"--since {args.since}: a later release than {release.version}; the notes say what "
                         "changed since an earlier one")
    if args.check and since != notes.default_since(matrix, release):
        raise UsageError("--check compares the committed notes, which are since the default release; drop --since")
    if args.json and args.check:
        raise UsageError("--json prints the notes' facts; --check compares the committed notes: give one")
    if args.json:
        print(json.dumps(notes.summary(release, since, read_locks(args.root)), indent=2))
        return 0
    files = render.render_notes(Layout(args.root).templates, release, since, read_locks(args.root))
    if not files:
        raise UsageError(f"no release notes template in {Layout(args.root).templates / render.NOTES_DIR}")
    if args.check:
        stale = render.stale(args.root, files)
        for path in stale:
            print(f"{path} is not up to date; run `python build.py render`", file=sys.stderr)
        if not stale:
            print(f"{', '.join(str(path) for path in sorted(files))}: up to date")
        return 1 if stale else 0
    for rendered in files.values():
        sys.stdout.write(rendered.content.decode())
    return 0


def cmd_new_version(args: argparse.Namespace) -> int:
    from .release import commands

    return commands.new_version(args, day("--date", args.date))


def cmd_upstream(args: argparse.Namespace) -> int:
    """What the package index has newer than each line's locks; exit 1 if a released lock ships a yanked version."""
    from .images.secrets import host_cacert, host_index_url
    from .lock import upstream

    index = upstream.SimpleIndex(upstream.default_index(host_index_url(args.index_url)), host_cacert(args.cacert))
    report = upstream.check(args.root, _matrix(args), args.line, index)
    print(json.dumps(upstream.as_json(report), indent=2) if args.json else upstream.as_text(report), end="")
    return 1 if report.yanked else 0


def cmd_bisect(args: argparse.Namespace) -> int:
    from .images import bisect_run  # the package moves between two locks of a line that turn a test red

    return bisect_run.command(args, _matrix(args))


def cmd_registry_tool(args: argparse.Namespace) -> int:
    from .publish import attach, verify  # the signature library loads for these commands only

    return (verify.run if args.command == "verify" else attach.run)(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "setup": cmd_setup,
    "validate": cmd_validate,
    "render": cmd_render,
    "freeze": cmd_freeze,
    "matrix": cmd_matrix,
    "tags": cmd_tags,
    "lock": cmd_lock,
    "bootstrap": cmd_bootstrap,
    "build": cmd_build,
    "test": cmd_test,
    "publish": cmd_publish,
    "push": cmd_push,
    "run": cmd_run,
    "dev": lambda args: dev_commands.run(args),
    "verify": cmd_registry_tool,
    "attach": cmd_registry_tool,
    "feed": cmd_feed,
    "lifecycle": cmd_lifecycle,
    "notes": cmd_notes,
    "new-version": cmd_new_version,
    "upstream": cmd_upstream,
    "bisect": cmd_bisect,
}


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # a program (build.py, runtime-builder): `... matrix | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args = parse_arguments(list(sys.argv[1:] if argv is None else argv))
    try:
        return COMMANDS[args.command](args)
    except MatrixError as error:
        print(f"versions.yaml is invalid ({len(error.problems)} problems):", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem.render(error.filename)}", file=sys.stderr)
        return error.exit_code
    except BuilderError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
