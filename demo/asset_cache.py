"""Build-once output folders: reuse a folder when the inputs that made it are unchanged.

A stamp file records the hash of the inputs and the size of every file written, so a second
run with the same inputs returns at once, and a folder that was edited or half-deleted since
is rebuilt. Stamps live in `<root>/.demo-stamps/`, outside the asset folders that get uploaded.
"""

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from demo.progress import progress

STAMP_DIR = ".demo-stamps"


@dataclass(frozen=True)
class CachedAsset:
    path: Path
    reused: bool
    summary: dict


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def tree_sha256(folder: Path) -> str:
    """Hash of every file's relative path and content under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def inputs_key(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _file_sizes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def _read_stamp(stamp: Path) -> dict | None:
    try:
        return json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None


def build_cached(root: Path, name: str, target: Path, inputs: dict, build: Callable[[Path], dict]) -> CachedAsset:
    """Return `target`, rebuilt by `build(tmp_dir) -> summary` only when `inputs` changed.

    The new folder is built beside the target and renamed into place, so an interrupted
    run never leaves a half-written asset that looks complete.
    """
    key = inputs_key(inputs)
    stamp_path = root / STAMP_DIR / f"{name}.json"
    stamp = _read_stamp(stamp_path)
    if stamp and stamp.get("key") == key and target.is_dir() and stamp.get("files") == _file_sizes(target):
        progress(f"{name}: inputs unchanged (key {key[:12]}), reusing cached {target}")
        return CachedAsset(target, True, stamp.get("summary", {}))

    progress(f"{name}: building {target} (key {key[:12]})")
    staging = target.parent / f".{target.name}.building"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    summary = build(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)

    stamp_path.parent.mkdir(parents=True, exist_ok=True)
    partial = stamp_path.with_suffix(".json.tmp")
    record = {"key": key, "inputs": inputs, "files": _file_sizes(target), "summary": summary}
    partial.write_text(json.dumps(record, indent=2, sort_keys=True))
    os.replace(partial, stamp_path)
    return CachedAsset(target, False, summary)
