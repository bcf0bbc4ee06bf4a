"""Does the image's interpreter have a torch the requirements accept? Read from package metadata
(importing torch takes seconds), against the one `torch>=X.Y` line of constraints.txt.

Hand-parsed on purpose: this runs before anything is installed, where `packaging` may not exist.
"""

from __future__ import annotations

import os
import re
from importlib.metadata import PackageNotFoundError, version

_LINE = re.compile(r"torch\s*>=\s*(\d+(?:\.\d+)*)")
_RELEASE = re.compile(r"\d+(?:\.\d+)*")


def needed(constraints_path: str) -> str:
    """The minimum torch version constraints.txt names."""
    with open(constraints_path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if re.match(r"torch\b", line):
                match = _LINE.fullmatch(line)
                if not match:
                    raise ValueError(f"{constraints_path}: '{line}': write the torch line as torch>=X.Y")
                return match.group(1)
    raise ValueError(f"{constraints_path}: no torch>=X.Y line")


def found() -> str | None:
    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def _release(text: str) -> tuple[int, ...]:
    match = _RELEASE.match(text)
    parts = [int(p) for p in match.group().split(".")] if match else [0]
    return tuple(parts + [0] * (3 - len(parts)))


def problem(constraints_path: str) -> str | None:
    """One line naming the image, the torch found and the torch needed; None when torch fits."""
    minimum, torch = needed(constraints_path), found()
    if torch is not None and _release(torch) >= _release(minimum):
        return None
    image = f"the image {os.environ['AITK_IMAGE']}" if os.environ.get("AITK_IMAGE") else "the container image"
    has = f"has torch {torch}" if torch else "has no torch"
    return (f"{image} {has}; the requirements need torch>={minimum}. Fix: provision with "
            f"--parameters containerImage=<an image with CUDA torch>={minimum}> (the template's "
            "default image has one), then deploy again")
