"""The container images localcloud can run, each as what it really ships (see the table in
localcloud/README.md, "Images"). A reference not listed here fails the revision as a failed pull does.

A stand-in cannot ship a CUDA torch: where the image's torch cannot be installed here, the stand-in
gets the one CPU build that installs from this machine's disk (TORCH_HERE) relabelled with the image's
version, so every version check (pip's resolver, transformers' "PyTorch >= 2.6 is required") meets
the version the image has; see standins.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TORCH_HERE = "2.13.0"  # the CPU build on this machine's disk (/opt/wheels); any other is a CUDA download


@dataclass(frozen=True)
class Image:
    reference: str
    python: str  # the image's Python (major.minor)
    torch: str | None  # the image's torch, None when it has none
    packages: tuple[str, ...]  # other packages the image ships, as pip requirements
    env: dict[str, str] = field(default_factory=dict)  # ENV lines of the image
    evidence: str = ""
    differences: str = ""  # where the stand-in differs from the image


# pytorch/pytorch images are the official Dockerfile (pytorch/pytorch, Dockerfile): Miniforge Python
# (ARG PYTHON_VERSION=3.11) with `conda install pyyaml numpy ipython`, then pip `torch torchvision
# torchaudio` from download.pytorch.org, PATH=/opt/conda/bin first, ENV PYTORCH_VERSION.
_PYTORCH_DIFFERENCES = (
    "torch is the CPU build {here} relabelled {version} (no CUDA); torchvision, torchaudio, ipython, conda "
    "and torchelastic are left out; numpy and pyyaml versions are the stand-in's, not evidenced."
)


def _pytorch(tag: str, python: str, torch: str, numpy: str, evidence: str, extra: str = "") -> Image:
    return Image(
        reference=f"pytorch/pytorch:{tag}",
        python=python,
        torch=torch,
        packages=(f"numpy=={numpy}", "pyyaml==6.0.3"),
        env={"PYTORCH_VERSION": torch, "NVIDIA_VISIBLE_DEVICES": "all"},
        evidence=evidence,
        differences=_PYTORCH_DIFFERENCES.format(here=TORCH_HERE, version=torch) + extra,
    )


IMAGES: dict[str, Image] = {
    image.reference: image
    for image in (
        _pytorch(
            "2.4.0-cuda12.4-cudnn9-runtime", "3.11", "2.4.0", "1.26.4",
            "The AI Toolkit template's default image; Python 3.11 and torch 2.4.0 reproduced in "
            "/work/shared/reference/container-apps-facts.md.",
        ),
        _pytorch(
            "2.7.1-cuda12.6-cudnn9-runtime", "3.11", "2.7.1", "2.2.6",
            "The product's default image: public Dockerfiles build on it (one pinned by digest) and a public "
            "build script notes Ubuntu 22.04 with conda Python 3.11 (infra/README.md).",
        ),
        _pytorch(
            "2.8.0-cuda12.9-cudnn9-runtime", "3.11", "2.8.0", "2.3.5",
            "Tag pulled by public Dockerfiles (e.g. pinned by digest sha256:e05438443ae3...); Python from the "
            "Dockerfile's PYTHON_VERSION=3.11.",
        ),
        _pytorch(
            "2.9.0-cuda13.0-cudnn9-runtime", "3.12", "2.9.0", "2.3.5",
            "Tag pulled by public Dockerfiles and Kubernetes manifests; Python 3.12 from a public run script "
            "of an image built on it (py=python3.12), weak evidence.",
            " Python is 3.11 here: the only Python on this machine.",
        ),
        Image(
            reference="python:3.11-slim",
            python="3.11",
            torch=None,
            packages=(),
            env={"PYTHON_VERSION": "3.11", "LANG": "C.UTF-8"},
            evidence="Docker Official Image python:3.11-slim: CPython 3.11 with pip, no other packages.",
            differences="The machine's Python 3.11 patch release, not the image's.",
        ),
    )
}


def markdown() -> str:
    """The table of localcloud/README.md ("Images"); a test holds the README to it."""
    lines = [
        "| Image | Python (image) | torch (image; stand-in) | Other packages | Stand-in differs | Evidence |",
        "|---|---|---|---|---|---|",
    ]
    for image in IMAGES.values():
        torch = image.torch or "none"
        if image.torch and image.torch != TORCH_HERE:
            torch += f" (as {TORCH_HERE} CPU, relabelled)"
        packages = ", ".join(image.packages) or "none"
        lines.append(
            f"| `{image.reference}` | {image.python} | {torch} | {packages} | {image.differences} | {image.evidence} |"
        )
    return "\n".join(lines) + "\n"


def find(reference: str) -> Image | None:
    """The image a container's `image` names; a 'docker.io/' or 'docker.io/library/' prefix is the same image."""
    name = reference.removeprefix("docker.io/").removeprefix("library/")
    return IMAGES.get(name)
