"""The command line's value types (argparse `type=`): a value is refused when the arguments are
parsed, with exit 2 and a message naming the option (argparse prefixes `argument --port:`),
before any matrix is read, host checked or engine asked (issue 31: the root cause first).
Each returns what the commands already take (a platform as its canonical name, a Path, an int).
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

from ..layout import LOCAL_REGISTRY
from .model import Platform


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive(text: str) -> int:
    """A whole number of at least 1 (a count of parallel jobs)."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def count(text: str) -> int:
    """A whole number of at least 0 (a number of log lines)."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be 0 or more")
    return value


def port(text: str) -> int:
    """A TCP port to listen on: 1 to 65535."""
    value = _whole(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1 to 65535)")
    return value


def platform(text: str) -> str:
    """linux/amd64 or linux/arm64 (or amd64, arm64), as its canonical name."""
    try:
        return Platform.parse(text).value
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def python(text: str) -> str:
    """A Python version, major.minor (whether a release has it is the matrix's to say, naming the ones it has)."""
    if not re.fullmatch(r"[0-9]+\.[0-9]+", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python version such as 3.13")
    return text


def command_line(text: str) -> str:
    """A command to run, split as a shell would (shlex): not empty, every quote closed."""
    try:
        words = shlex.split(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: an unclosed quote or a trailing backslash") from None
    if not words:
        raise argparse.ArgumentTypeError("an empty command")
    return text


_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9a-fA-F:]+\])"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = re.compile(rf"{_HOST}(?::[0-9]+)?(?:/{_PATH})*")
# Docker's reference grammar: [host[:port]/]path[:tag][@algorithm:hex]
_IMAGE = re.compile(rf"(?:{_HOST}(?::[0-9]+)?/)?{_PATH}(?:/{_PATH})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
                    r"(?:@[a-z0-9]+:[0-9a-f]{32,})?")


def registry(text: str) -> str:
    """Where base images live: host[:port][/path], e.g. the local registry or mirror.example/library."""
    if not _REGISTRY.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a registry: host[:port][/path], e.g. {LOCAL_REGISTRY}")
    return text


def repository(text: str) -> str:
    """An image name without a tag, e.g. airflow-runtime or quay.io/org/airflow-runtime."""
    if not re.fullmatch(rf"(?:{_HOST}(?::[0-9]+)?/)?{_PATH}(?:/{_PATH})*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an image repository name (lower case, no tag), e.g. "
                                         "airflow-runtime or quay.io/org/airflow-runtime")
    return text


def image(text: str) -> str:
    """An image reference, e.g. python:3.12-slim-bookworm or quay.io/org/image@sha256:..."""
    if not _IMAGE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an image reference, e.g. python:3.12-slim-bookworm or "
                                         "registry:5000/org/image:tag")
    return text


def revision(text: str) -> str:
    """A git revision (a commit, a branch, HEAD~1): not empty, not an option."""
    if not text.strip() or text.startswith("-"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a git revision (a commit, a branch, HEAD~1)")
    return text


DEPLOYMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # what Docker takes in a container's name, shorter


def deployment_name(text: str) -> str:
    """A deployment's --name: it names its containers, volumes and network."""
    if not DEPLOYMENT_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: letters, digits, `_`, `.` and `-`, starting with a letter or "
                                         "digit, at most 63 (it names the deployment's containers, volumes and "
                                         "network)")
    return text


def existing_file(text: str) -> Path:
    """A file to read (a CA bundle, a .env, an airflow_settings.yaml, a file to attach)."""
    path = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("an empty path; give a file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: a folder; give a file")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return path


def index_url(text: str) -> str:
    """A package index: an http(s) URL with a host. Never echoed: it may hold credentials."""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise argparse.ArgumentTypeError("not an http:// or https:// URL with a host, e.g. https://pypi.org/simple "
                                         "(left out of this message: it may hold credentials)")
    return text


def output_file(text: str) -> Path:
    """A file to write, in a folder that exists (said now, not when the work is done)."""
    path = Path(text)
    if not text:
        raise argparse.ArgumentTypeError("an empty path; give a file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: a folder; give a file")
    if not path.absolute().parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no folder {path.parent} to write it in")
    return path
