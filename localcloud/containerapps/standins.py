"""Stand-in environments for images: one virtual environment per image and machine, built once from
the machine's base interpreter (never the project's .venv) and cached under
${XDG_CACHE_HOME:-~/.cache}/localcloud/images/<key>, with a file lock so two builds never collide.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from localcloud.containerapps.images import TORCH_HERE, Image

_LAYOUT = 1  # bump when the way a stand-in is built changes: every cached one is rebuilt
_BUILD_TIMEOUT_S = 600


class ImagePullError(Exception):
    """The image cannot be made ready (not in the table, or its stand-in failed to build)."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "localcloud"


def pip_cache() -> Path:
    """pip's cache shared by every stand-in build and every replica on this machine."""
    return cache_root() / "pip"


def base_interpreter(version: str) -> Path:
    """The machine's own Python of that version, else the base Python this server runs on.

    sys.base_prefix is the interpreter a virtual environment was made from, so this is never .venv.
    """
    base = Path(sys.base_prefix) / "bin"
    for candidate in (base / f"python{version}", shutil.which(f"python{version}")):
        if candidate and Path(candidate).is_file() and _is_base(Path(candidate)):
            return Path(candidate)
    return base / f"python{sys.version_info.major}.{sys.version_info.minor}"


def _is_base(python: Path) -> bool:
    probe = subprocess.run(
        [str(python), "-c", "import sys; print(sys.prefix == sys.base_prefix)"], capture_output=True, text=True
    )
    return probe.stdout.strip() == "True"


def _key(image: Image, python: Path) -> str:
    recipe = {"layout": _LAYOUT, "image": image.reference, "python": str(python), "torch": image.torch,
              "packages": image.packages, "torchHere": TORCH_HERE}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def ensure(image: Image, log) -> Path:
    """The stand-in's root (its bin/ goes first on PATH); built now if this machine has none yet.

    ``log(line)`` receives progress lines (the replica's system log).
    """
    python = base_interpreter(image.python)
    root = cache_root() / "images" / _key(image, python)

    def build() -> None:
        log(f'building the stand-in for image "{image.reference}" in {root}')
        _build(image, python, root)

    try:
        return _cached(root, build)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ImagePullError(f'the stand-in for "{image.reference}" could not be built: {exc}') from exc


def _cached(root: Path, build) -> Path:
    """root, made by build() unless an earlier build finished; a file lock makes a second caller wait
    for the first one's result instead of building beside it."""
    done = root / ".localcloud-complete"
    if done.exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(root, ignore_errors=True)
            try:
                build()
            except BaseException:
                shutil.rmtree(root, ignore_errors=True)
                raise
            done.touch()
    return root


def _torch_packages(python: Path) -> Path:
    """torch TORCH_HERE and its dependencies unpacked once per machine (pip --target); stand-ins link
    to these files instead of unpacking the 900 MB again."""
    target = cache_root() / "torch" / f"{TORCH_HERE}-{hashlib.sha256(str(python).encode()).hexdigest()[:8]}"
    return _cached(
        target,
        lambda: _run([str(python), "-m", "pip", "install", "--quiet", "--no-input", "--target", str(target),
                      f"torch=={TORCH_HERE}"]),
    )


def _run(argv: list[str]) -> None:
    env = {**os.environ, "PIP_CACHE_DIR": str(pip_cache()), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S)
    if done.returncode != 0:
        tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise subprocess.SubprocessError(f"{' '.join(argv[:4])} ... failed: {tail}")


def _build(image: Image, python: Path, root: Path) -> None:
    _run([str(python), "-m", "venv", str(root)])
    if image.torch:
        # Hard links: the same files on disk; relabel_torch replaces (never edits) the few it changes.
        # torch's console scripts (torchrun...) stay in the shared folder's bin/, not on the stand-in's PATH.
        shared = _torch_packages(python)
        for entry in shared.iterdir():
            destination = _site_packages(root) / entry.name
            # The environment's own pip and setuptools stay; so do the shared folder's scripts.
            if entry.name not in ("bin", ".localcloud-complete") and not destination.exists():
                if entry.is_dir():
                    shutil.copytree(entry, destination, copy_function=os.link)
                else:
                    os.link(entry, destination)
    if image.packages:
        _run([str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-input", *image.packages])
    if image.torch and image.torch != TORCH_HERE:
        relabel_torch(root, image.torch)


def _site_packages(root: Path) -> Path:
    return next((root / "lib").glob("python3.*/site-packages"))


def relabel_torch(root: Path, version: str) -> None:
    """Make the installed torch report `version` everywhere a check looks: its distribution metadata
    (pip, importlib.metadata) and torch.__version__ (torch/version.py)."""
    site = _site_packages(root)
    (info,) = site.glob("torch-*.dist-info")
    metadata, record, version_py = info / "METADATA", info / "RECORD", site / "torch" / "version.py"
    _replace(metadata, re.sub(r"(?m)^Version: .*$", f"Version: {version}", metadata.read_text(), count=1))
    _replace(record, record.read_text().replace(f"{info.name}/", f"torch-{version}.dist-info/"))
    _replace(version_py, re.sub(r"(?m)^__version__ = .*$", f"__version__ = '{version}'", version_py.read_text()))
    info.rename(site / f"torch-{version}.dist-info")


def _replace(path: Path, text: str) -> None:
    """A new file in place of path (a hard link shared with other stand-ins stays as it was)."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(text)
    os.replace(fresh, path)
