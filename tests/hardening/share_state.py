"""What a project's Azure Files share holds, read from the local cloud's state folder on disk, and
the invariant every deploy must keep: the active code version is whole."""
import hashlib
import json
from pathlib import Path

ROOT = "aitk-infer"


def share_folder(cloud, config) -> Path:
    return cloud.state / "files" / config["STORAGE_ACCOUNT_NAME"] / "shares" / config["FILE_SHARE_NAME"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` ({} when it does not exist)."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def active_version(share: Path) -> str | None:
    """The version the pointer names, after checking that its manifest and every object it lists
    are on the share with the right content; None before the first deploy."""
    pointer = share / ROOT / "current"
    if not pointer.exists():
        return None
    version = pointer.read_text().splitlines()[0].strip()
    manifest = json.loads((share / ROOT / "versions" / f"{version}.json").read_text())
    for relpath, entry in manifest["files"].items():
        stored = share / ROOT / "objects" / entry["sha256"]
        assert stored.is_file() and sha256(stored) == entry["sha256"], f"{version}: {relpath} is not whole"
    return version


def mirrors(share: Path, remote: str, local: Path) -> bool:
    """The share folder holds exactly the local folder's files (plus deploy's manifest)."""
    remote_files = tree_digest(share / remote)
    remote_files.pop(".aitk-manifest.json", None)
    return remote_files == tree_digest(local)
