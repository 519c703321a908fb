"""What a deployment knows before it starts anything: that an engine answers, and what the image
is (its Runtime and Airflow versions, whether it runs under QEMU), from the image's labels."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DeployError
from ..images.engine import Engine
from ..matrix.model import Platform

# How much longer an image of another architecture than the host's takes under QEMU (the Airflow
# waits of a deployment are this many times as long for it; what deployments measured under QEMU
# is in docs/performance.md).
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


def image_facts(engine: Engine, image: str) -> ImageFacts:
    """What a deployment needs to know of an image, from its labels."""
    found = engine.image_facts(image)
    if found is None:
        raise DeployError(f"no image {image}: build it first")
    labels, architecture = found
    version, airflow = labels.get("io.airflow-runtime.version"), labels.get("io.airflow-runtime.airflow-version")
    if not version or not airflow:
        raise DeployError(f"{image} has no io.airflow-runtime.version / airflow-version labels: not a Runtime image")
    return ImageFacts(version, airflow, emulated=(architecture or Platform.native().arch) != Platform.native().arch)
