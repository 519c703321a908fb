"""What a deployment knows before it starts anything: that an engine answers, and what the image
is (its Runtime and Airflow versions, whether it runs under QEMU), from the image's labels."""

from __future__ import annotations

from dataclasses import dataclass

import docker
import docker.errors

from ..errors import DeployError
from ..matrix.model import Platform

# How much longer an image of another architecture than the host's takes under QEMU (measured on
# the 2-core build host, 14.1.0 arm64: every component healthy after 301 s with Celery against
# 17 s native; the Airflow waits of a deployment are this many times as long for it).
EMULATED_PATIENCE = 3.0


@dataclass(frozen=True)
class ImageFacts:
    runtime_version: str
    airflow_version: str
    emulated: bool = False  # the image's architecture is not the host's: it runs under QEMU

    @property
    def patience(self) -> float:
        """What the deployment's waits for Airflow are multiplied by."""
        return EMULATED_PATIENCE if self.emulated else 1.0

    @property
    def airflow_major(self) -> int:
        return int(self.airflow_version.split(".")[0])


def image_facts(client: docker.DockerClient, image: str) -> ImageFacts:
    """What a deployment needs to know of an image, from its labels."""
    try:
        found = client.images.get(image)
    except docker.errors.ImageNotFound as error:
        raise DeployError(f"no image {image}: build it first") from error
    labels = found.labels or {}
    version, airflow = labels.get("io.airflow-runtime.version"), labels.get("io.airflow-runtime.airflow-version")
    if not version or not airflow:
        raise DeployError(f"{image} has no io.airflow-runtime.version / airflow-version labels: not a Runtime image")
    architecture = found.attrs.get("Architecture") or Platform.native().arch
    return ImageFacts(version, airflow, emulated=architecture != Platform.native().arch)


def client() -> docker.DockerClient:
    try:
        found = docker.from_env()
        found.ping()
    except docker.errors.DockerException as error:
        raise DeployError(f"no Docker engine answers: {error}") from error
    return found
