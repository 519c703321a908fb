"""`build.py`'s command line: every command, its arguments and their help. Declarations only;
`cli` runs the commands.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from .dev import commands as dev_commands
from .errors import UsageError
from .generate.specs import DEFAULT_REPOSITORY
from .layout import LOCAL_REGISTRY, VERSIONS_FILE, find_root
from .matrix.model import Channel, Platform, Variant
from .matrix.options import (
    command_line,
    deployment_name,
    existing_file,
    image,
    index_url,
    platform,
    port,
    positive,
    python,
    registry,
    repository,
    revision,
)

PACKAGE = Path(__file__).resolve().parent
INDEX_URL_HELP = ("package index for the build (default: the host's pip/uv configuration; prefer that, or "
                  "PIP_INDEX_URL: a URL with credentials given here shows in the process list)")


def day(option: str, text: str | None) -> date:
    """A date option: YYYY-MM-DD, or YYYYMMDD (the nightly tags' own form); default today."""
    if text is None:
        return date.today()
    iso = f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 and text.isdigit() else text
    try:
        return date.fromisoformat(iso)
    except ValueError as error:
        raise UsageError(f"{option} {text!r} is not a date (a day that exists, written YYYY-MM-DD or YYYYMMDD)") \
            from error


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="append", help="a Runtime version (repeatable)")
    parser.add_argument("--line", action="append", type=int, help="a Runtime line, i.e. major (repeatable)")
    parser.add_argument("--channel", action="append", choices=[c.value for c in Channel])
    parser.add_argument("--variant", action="append", choices=[v.value for v in Variant])
    parser.add_argument("--python", type=python, action="append", help="a Python version such as 3.13 (repeatable)")
    parser.add_argument("--platform", action="append", type=platform,
                        help="linux/amd64 or linux/arm64 (repeatable)")
    parser.add_argument("--default-python", action="store_true", help="only each release's default Python")


# What `build.py COMMAND --help` ends with: the command as people run it.
EXAMPLES = {
    "build": ["python3 build.py build                                  # the default release, this host's platform",
              "python3 build.py build 14.3.0 --variant slim --platform linux/arm64"],
    "test": ["python3 build.py test                                   # what `build` builds by default",
             "python3 build.py test --image airflow-runtime:14.2.1-python-3.13-amd64 -- -k onbuild"],
    "publish": ["python3 build.py publish 14.2.1 --registry quay.io/org/airflow-runtime --signing-key key.pem",
                "python3 build.py publish --nightly --newest-of-each-line --registry 127.0.0.1:5000/airflow-runtime"],
    "run": ["python3 build.py run --project ~/my-project               # Ctrl-C removes it all",
            "python3 build.py run 12.1.1 --project ~/my-project --executor celery --detach"],
    "verify": ["python3 build.py verify quay.io/org/airflow-runtime:14.2.1-python-3.13 --key runtime-signing.pub"],
    "tags": ["python3 build.py tags 14.2.1 --python 3.13 --variant base --json"],
    "new-version": ["python3 build.py new-version --patch --from 14.2.1 --upgrade-providers --dry-run",
                    "python3 build.py new-version --release 14.3.0",
                    "python3 build.py new-version --from-upstream --line 14   # cut or refresh line 14's nightly"],
    "upstream": ["python3 build.py upstream --line 14", "python3 build.py upstream --json > upstream.json"],
    "lock": ["python3 build.py lock 14.3.0 --stale", "python3 build.py lock --python 3.13 --jobs 8"],
    "matrix": ["python3 build.py matrix --json --channel nightly --default-python"],
    "bisect": ["python3 build.py bisect 14.2.1 14.3.0 -- tests/image/test_airflow_runs.py -k version",
               "python3 build.py bisect 14.2.1 14.3.0 --moves                 # the moved packages only"],
    "validate": ["python3 build.py validate"],
    "setup": ["python3 build.py setup --platform linux/arm64 --for-tests    # what `make test` sets up"],
    "render": ["python3 build.py render", "python3 build.py render --check      # exit 1 naming what is stale"],
    "freeze": ["python3 build.py freeze --check"],
    "bootstrap": ["python3 build.py bootstrap --suite trixie --platform linux/arm64"],
    "push": ["python3 build.py push 14.2.1 --variant base --platform linux/arm64 --registry "
             "quay.io/org/runtime-staging --result build/results/cell.json"],
    "dev": list(dev_commands.EXAMPLES),
    "attach": ["python3 build.py attach quay.io/org/airflow-runtime@sha256:" + "0" * 64 + " trivy.json "
               "--artifact-type application/vnd.aquasec.trivy.report.v1+json"],
    "feed": ["python3 build.py feed --check", "python3 build.py feed --merge build/feed"],
    "lifecycle": ["python3 build.py lifecycle --as-of 2027-04-01 --json"],
    "notes": ["python3 build.py notes 14.2.1", "python3 build.py notes 14.2.1 --since 14.1.1 --json"],
}


def _command(sub: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    """A sub-command whose --help starts with what it does and ends with examples."""
    examples = EXAMPLES.get(name)
    return sub.add_parser(name, help=help, description=help, formatter_class=argparse.RawDescriptionHelpFormatter,
                          epilog="examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None)


def _program() -> str:
    """How the user called the tool: build.py, runtime-builder, or python -m runtime_builder."""
    called = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "build.py"
    return "python -m runtime_builder" if called == "__main__.py" else called


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=_program(), description="Build the Airflow Runtime images.")
    top.add_argument("--root", type=Path, help="the repository (its versions.yaml, templates, locks) to work on "
                                               "(default: the clone this tool is in, else the nearest folder "
                                               "upward from here with a versions.yaml)")
    top.add_argument("--repository", type=repository, default=DEFAULT_REPOSITORY,
                     help="image repository name (default: %(default)s)")
    sub = top.add_subparsers(dest="command", required=True)

    _command(sub, "validate", help="check versions.yaml against the schema and the versioning rules")

    p = _command(sub, "setup", help="set this Debian host up: Docker engine, local registry, arm64 emulation; "
                                     "the only command that installs packages or starts daemons")
    p.add_argument("--platform", action="append", type=platform, metavar="PLATFORM",
                   help="linux/arm64 also sets up emulation (repeatable; default: the host's own platform only)")
    p.add_argument("--for-tests", action="store_true", help="also what the test suite uses: Compose, Chromium")

    p = _command(sub, "render", help="render templates/ into distributions/")
    p.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")

    p = _command(sub, "freeze", help="record released versions' build contexts as released (render keeps them)")
    p.add_argument("versions", nargs="*", metavar="VERSION",
                   help="released versions (default: every released version not frozen yet)")
    p.add_argument("--check", action="store_true",
                   help="only check that every released version is frozen and its context unchanged; exit 1 if not")

    p = _command(sub, "matrix", help="print the build matrix (one row per version, variant, python, platform)")
    p.add_argument("--json", action="store_true", help="JSON for CI: {\"include\": [rows]}")
    p.add_argument("--compact", action="store_true", help="JSON on one line (for GitHub outputs)")
    p.add_argument("--changed-since", metavar="REV", type=revision,
                   help="only the cells the change since this git revision touches (pull request builds)")
    p.add_argument("--newest-of-each-line", action="store_true",
                   help="only the newest release of every line and the nightlies (what the nightly deploys)")
    _add_filters(p)

    p = _command(sub, "tags", help="print every tag the images of a version get")
    p.add_argument("version", help="a Runtime version, e.g. 14.2.1")
    p.add_argument("--python", type=python,
                   help="only this Python's images, e.g. 3.13 (default: every Python of the release)")
    p.add_argument("--variant", choices=[v.value for v in Variant], help="only this variant's images (default: all)")
    p.add_argument("--nightly", action="store_true", help="the nightly tags instead")
    p.add_argument("--date", help="the nightly date, YYYYMMDD or YYYY-MM-DD (default: today)")
    p.add_argument("--json", action="store_true", help="print the tags as JSON (image, tag, kind, python, variant)")

    p = _command(sub, "lock", help="resolve hash-pinned lock files with uv")
    p.add_argument("versions", nargs="*", help="Runtime versions (default: all)")
    p.add_argument("--python", type=python, action="append", help="only this Python's cells (repeatable)")
    p.add_argument("--platform", action="append", type=platform,
                   help="only this platform's cells, linux/amd64 or linux/arm64 (repeatable)")
    p.add_argument("--jobs", type=positive, default=4, help="parallel resolutions (default: %(default)s)")
    p.add_argument("--stale", action="store_true", help="only cells whose lock is missing or out of date")
    p.add_argument("--fresh", action="store_true", help="resolve anew, not keeping the pins of the existing lock "
                                                        "(or of the previous release's)")

    p = _command(sub, "upstream", help="what the package index has newer than each line's newest release and "
                                        "nightly lock, and any version a released lock ships that the index "
                                        "marks yanked (exit 1)")
    p.add_argument("--line", type=int, help="only this Runtime line, e.g. 14 (default: every line)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--index-url", type=index_url, help="the simple index to ask, PEP 691 JSON (default: the host's "
                                                       "pip/uv configuration, else pip's default index)")
    p.add_argument("--cacert", type=existing_file, help="CA bundle for an HTTPS index (default: the host's)")

    p = _command(sub, "bisect", help="find the package moves between two locks of one line (the last green "
                                      "release, a red nightly) that turn a test selection red, by building images "
                                      "from candidate locks; print the culprits and a `constraints:` entry")
    p.add_argument("good", help="where the tests pass: a Runtime version, or a lock file (<version>/python-<X.Y>/"
                                "<arch>.txt as under locks/)")
    p.add_argument("bad", help="where they fail: a later version of the same line (e.g. its nightly), or a lock file")
    p.add_argument("selection", nargs="*", help="the pytest selection that is red on BAD, after -- (tests/image "
                                                "paths, -k, -m: each probe image is given to it as --image; or "
                                                "tests/deploy/test_deployment.py: each probe deploys BAD's ONBUILD "
                                                "image built on it)")
    p.add_argument("--python", type=python, help="the cell's Python (default: BAD's default Python)")
    p.add_argument("--platform", type=platform,
                   help="the cell's platform, linux/amd64 or linux/arm64 (default: the host's)")
    p.add_argument("--reruns", type=positive, default=1,
                   help="how often BAD is probed again before concluding that nothing reproduces (default: 1)")
    p.add_argument("--moves", action="store_true", help="only list the moved packages; build nothing")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--base-registry", dest="registry", type=registry, default=LOCAL_REGISTRY,
                   help="where base images live (default: %(default)s)")
    p.add_argument("--python-base", type=image, help="an upstream Python base image instead of the bootstrapped one")
    p.add_argument("--cacert", type=existing_file, help="CA bundle for PyPI inside the build (default: the host's)")
    p.add_argument("--index-url", type=index_url, help=INDEX_URL_HELP)
    p.add_argument("--no-secrets", action="store_true", help="pass neither CA bundle nor index URL")

    p = _command(sub, "bootstrap", help="make Debian and Python base images offline, into the local registry")
    p.add_argument("--suite", action="append", help="only this Debian suite (repeatable)")
    p.add_argument("--platform", action="append", type=platform,
                   help="also this platform, linux/arm64 or linux/amd64 (repeatable; default: the host's)")
    p.add_argument("--registry", type=registry, default=LOCAL_REGISTRY,
                   help="where the bases go (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="rebuild even if the registry has them")

    p = _command(sub, "build", help="build images (default: the newest stable release, default Python, "
                                     "native platform, every variant (base, ONBUILD and, where a release has them, "
                                     "slim-base and slim), then run `airflow version` in it)")
    p.add_argument("versions", nargs="*", help="Runtime versions (default: the newest stable release)")
    p.add_argument("--variant", action="append", choices=[v.value for v in Variant],
                   help="only this variant (repeatable; default: every variant the release has)")
    p.add_argument("--python", type=python, action="append",
                   help="this Python (repeatable; default: the release's default)")
    p.add_argument("--platform", action="append", type=platform,
                   help="linux/amd64 or linux/arm64 (repeatable; default: the host's; the other one builds under QEMU)")
    p.add_argument("--base-registry", "--registry", dest="registry", type=registry, default=LOCAL_REGISTRY,
                   help="where base images live (default: %(default)s; --registry is the older name)")
    p.add_argument("--python-base", type=image, help="an upstream Python base image instead of the bootstrapped one, "
                                         "e.g. python:3.12-slim-bookworm from a registry mirror")
    p.add_argument("--json", action="store_true", help="print what was built as JSON (image, platform, seconds, "
                                                       "image id, BuildKit log), and run no smoke test")
    p.add_argument("--cacert", type=existing_file, help="CA bundle for PyPI inside the build (default: the host's)")
    p.add_argument("--index-url", type=index_url, help=INDEX_URL_HELP)
    p.add_argument("--no-secrets", action="store_true", help="pass neither CA bundle nor index URL")
    p.add_argument("--no-smoke", action="store_true", help="do not run `airflow version` after the default build")
    p.add_argument("--force-eol", action="store_true", help="build a version even if it is end of life")
    p = _command(sub, "test", help="run the image tests (testinfra) on images or matrix cells")
    p.add_argument("--image", action="append", type=image, help="an image reference (repeatable)")
    p.add_argument("--junitxml", type=Path, help="write per-image results as JUnit XML")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    _add_filters(p)
    p = _command(sub, "publish", help="build or reuse, test, push and tag the images of versions "
                                       "(multi-arch manifest lists; floating tags move last)")
    p.add_argument("versions", nargs="*", help="Runtime versions (with --nightly: default the nightly channel)")
    p.add_argument("--registry", required=True, help="where to publish: host[/repository], e.g. "
                                                     "127.0.0.1:5000/airflow-runtime or quay.io/org/runtime")
    p.add_argument("--python", type=python, action="append", help="only this Python (repeatable; default: all)")
    p.add_argument("--default-python", action="store_true", help="only each release's default Python")
    p.add_argument("--platform", action="append", type=platform, help="only this platform (repeatable; default: all)")
    p.add_argument("--variant", action="append", choices=[v.value for v in Variant],
                   help="only this variant (repeatable; default: every variant a release has)")
    p.add_argument("--force", action="store_true", help="overwrite immutable tags that name other images")
    p.add_argument("--nightly", action="store_true", help="nightly tags only (X.Y.Z-nightly-YYYYMMDD)")
    p.add_argument("--date", help="the nightly date, YYYYMMDD or YYYY-MM-DD (default: today)")
    p.add_argument("--newest-of-each-line", action="store_true", help="with --nightly: also each line's newest release")
    p.add_argument("--write-feed", action="store_true", help="also record the digests in releases.json")
    p.add_argument("--test-command", type=command_line, help="tests one image; {image} is its reference "
                                          "(default: build.py test --image {image})")
    p.add_argument("--retest", action="store_true", help="test again images whose tests passed before")
    p.add_argument("--base-registry", type=registry, default=LOCAL_REGISTRY,
                   help="where base images live (default: %(default)s)")
    p.add_argument("--python-base", type=image, help="an upstream Python base image instead of the bootstrapped one")
    p.add_argument("--cacert", type=existing_file, help="CA bundle for PyPI inside the build (default: the host's)")
    p.add_argument("--index-url", type=index_url, help=INDEX_URL_HELP)
    p.add_argument("--no-secrets", action="store_true", help="pass neither CA bundle nor index URL")

    p.add_argument("--force-eol", action="store_true", help="publish a version even if it is end of life")
    p.add_argument("--from-results", type=Path, metavar="DIR",
                   help="build and test nothing: make the lists and tags from what CI cell jobs pushed "
                        "(their `build.py push --result` files in DIR)")
    signed = p.add_mutually_exclusive_group()  # a key given with --unsigned was silently ignored
    signed.add_argument("--signing-key", type=Path, metavar="FILE",
                        help="sign every platform image, list and the feed with this Ed25519 private key (PEM; "
                             "default: the key in RUNTIME_SIGNING_KEY); a registry other than loopback needs one")
    signed.add_argument("--unsigned", action="store_true", help="publish without signatures (`verify` then fails)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON: counts, every tag written or kept "
                                                       "with its digest, the feed, the upgrade pulls")

    p = _command(sub, "push", help="push one built and tested cell by digest, for a later `publish --from-results`")
    p.add_argument("version", help="the Runtime version")
    p.add_argument("--python", type=python, help="default: the release's default Python")
    p.add_argument("--variant", choices=[v.value for v in Variant], default=Variant.BASE.value)
    p.add_argument("--platform", required=True, type=platform, help="linux/amd64 or linux/arm64")
    p.add_argument("--registry", required=True, help="host[/repository], as for publish")
    p.add_argument("--result", type=Path, help="merge the pushed digest into this JSON result file")

    p = _command(sub, "run", help="build a project on a Runtime version's ONBUILD image and deploy it locally "
                                   "(PostgreSQL, Redis, every Airflow component) until Ctrl-C")
    p.add_argument("version", nargs="?", help="the Runtime version (default: the one the project's Dockerfile FROM "
                                              "line names, else the default release)")
    p.add_argument("--project", type=Path, help="the project folder (Dockerfile, packages.txt, requirements.txt, "
                                                "dags/; a .env's NAME=value lines go to every Airflow container, "
                                                "an airflow_settings.yaml's connections, pools and Variables to "
                                                "its database)")
    p.add_argument("--executor", choices=["local", "celery"], default="local",
                   help="local (default: one machine, as local development runs) or celery (adds Redis and a worker)")
    p.add_argument("--port", type=port, help="the UI's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--detach", action="store_true", help="leave it running and return")
    p.add_argument("--stop", action="store_true", help="remove what `run` started (all, or --name)")
    p.add_argument("--name", type=deployment_name, help="the deployment's name (default: airflow-<random>)")
    p.add_argument("--base-registry", "--registry", dest="registry", type=registry, default=LOCAL_REGISTRY,
                   help="where base images live (default: %(default)s; --registry is the older name)")
    p.add_argument("--cacert", type=existing_file, help="CA bundle for PyPI inside the build (default: the host's)")
    p.add_argument("--index-url", type=index_url, help=dev_commands.PROJECT_INDEX_URL_HELP)
    p.add_argument("--force-eol", action="store_true", help="run a version even if it is end of life")
    p.add_argument("--platform", type=platform, help="linux/amd64 or linux/arm64: the image's platform (default: "
                                                     "the host's; the other one runs under QEMU, minutes slower)")
    p.add_argument("--skip-dag-check", action="store_true",
                   help="build the project without the DAG import check (RUNTIME_CHECK_DAGS=false): for DAGs that "
                        "read a Variable or connection of .env or airflow_settings.yaml when imported")

    dev_commands.add_parser(sub)

    p = _command(sub, "verify", help="check a published image: signatures (feed, list, platform images), SBOM, "
                                      "provenance, yank and lifecycle status; exit 1 naming what failed")
    p.add_argument("reference", help="the image, with its registry: HOST/REPOSITORY:TAG or HOST/REPOSITORY@sha256:...")
    p.add_argument("--key", type=Path, required=True, help="the publisher's public key (PEM, Ed25519)")
    p.add_argument("--platform", choices=[p.value for p in Platform], help="check only this platform's image")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--today", help=argparse.SUPPRESS)  # the tests' clock (YYYY-MM-DD)

    p = _command(sub, "attach", help="attach a file (a scan report, ...) to a pushed image as an OCI referrer")
    p.add_argument("reference", help="the image by digest: HOST/REPOSITORY@sha256:...")
    p.add_argument("file", type=Path)
    p.add_argument("--artifact-type", required=True,
                   help="its media type, e.g. application/vnd.aquasec.trivy.report.v1+json")
    p.add_argument("--title", help="the file's name in the artifact (default: its own)")

    p = _command(sub, "feed", help="write releases.json (the release feed) from versions.yaml")
    p.add_argument("--check", action="store_true", help="only check that releases.json is up to date")
    p.add_argument("--merge", type=Path, metavar="DIR",
                   help="also record the image digests of the feeds publish wrote (build/feed/*.json) under DIR")

    p = _command(sub, "lifecycle", help="every Runtime version's lifecycle dates and status on a day")
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="the day to judge the status on (default: today)")
    p.add_argument("--json", action="store_true", help="JSON: {\"as_of\": ..., \"releases\": [rows]}")

    p = _command(sub, "notes", help="print a version's release notes (`render` writes them to "
                                     "distributions/<version>/RELEASE_NOTES.md)")
    p.add_argument("version", help="the Runtime version")
    p.add_argument("--since", metavar="VERSION", help="compare with this version (default: the previous "
                                                     "non-yanked release, or the previous line's newest)")
    p.add_argument("--check", action="store_true", help="only check that the committed notes are up to date")
    p.add_argument("--json", action="store_true", help="the notes' facts as JSON (schema in docs/commands.md)")

    p = _command(sub, "new-version", help="cut the next Runtime patch, minor or major into versions.yaml, "
                                           "then lock, render and write releases.json")
    bump = p.add_mutually_exclusive_group(required=True)
    for kind in ("patch", "minor", "major"):
        bump.add_argument(f"--{kind}", dest="bump", action="store_const", const=kind, help=f"a {kind} release")
    bump.add_argument("--release", metavar="X.Y.Z", help="release a nightly build: its channel becomes stable and "
                                                         "its date the release date; its locks are resolved as of it")
    bump.add_argument("--from-upstream", action="store_true",
                      help="draft the line's nightly from what the package index has newer (`upstream`): cut one "
                           "(the next patch of its newest release) or refresh the one it has, locked as of the date")
    p.add_argument("--line", type=int, help="with --from-upstream: the Runtime line (default: the default release's)")
    p.add_argument("--from", dest="base", metavar="X.Y.Z", help="the release to cut from (default: the newest "
                                                             "released version of the default release's line; "
                                                             "for --major, of the newest line)")
    p.add_argument("--airflow", metavar="A.B.C", help="the new release's Airflow (required with --major)")
    p.add_argument("--nightly", action="store_true",
                   help="cut it as a nightly build (built nightly, not frozen) until `--release` releases it")
    p.add_argument("--upgrade-providers", action="store_true",
                   help="move each pin to the newest version the policy allows that resolves with the Airflow")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="the release date (default: today)")
    p.add_argument("--dry-run", action="store_true", help="show the change to versions.yaml; write nothing")
    p.add_argument("--no-lock", action="store_true", help="write no lock files (offline); lock and render later")
    p.add_argument("--index-url", type=index_url, help="with --from-upstream: the simple index to ask, PEP 691 JSON "
                                                       "(default: the host's pip/uv configuration)")
    p.add_argument("--cacert", type=existing_file, help="with --from-upstream: CA bundle for an HTTPS index")
    return top


def split_passed(argv: list[str]) -> tuple[list[str], list[str]]:
    """`build.py ... -- CMD ARGS`: the arguments before the first `--` (ours) and those after it
    (the command's, never read as ours: `dev exec -- ls` runs `ls` in the default component). Pure."""
    if "--" not in argv:
        return argv, []
    at = argv.index("--")
    return argv[:at], argv[at + 1:]


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The command line. `dev pytest -k x`, `dev airflow dags list -o json`, `dev exec -- ls -l`:
    what follows a dev command that runs something goes to it (after `--`, all of it); another
    command's `--` is its own (`test ... -- PYTEST ARGS`)."""
    top = parser()
    args, extra = top.parse_known_args(argv)
    passed: list[str] = []
    if args.command == "dev" and "--" in argv:
        ours, passed = split_passed(list(argv))
        args, extra = top.parse_known_args(ours)
    elif args.command == "bisect" and "--" in argv:  # options anywhere before the selection's `--`
        ours, selection = split_passed(list(argv))
        args, extra = top.parse_known_args(ours)
        args.selection = [*args.selection, *selection]
    if extra or passed:
        if args.command != "dev" or args.dev_command not in dev_commands.PASSES_ARGUMENTS:
            top.error(f"unrecognized arguments: {' '.join([*extra, *passed])}")
        args.argv = [*extra, *args.argv, *passed]
    if args.root is None:
        args.root = find_root(PACKAGE, Path.cwd())
        if args.root is None:
            top.error(f"no {VERSIONS_FILE} in this folder or any above it: run this in a clone of the runtime "
                      "repository, or give it with --root")
    return args
