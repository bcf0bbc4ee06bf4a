"""Start command of the inference container (`cd /mount/aitk-infer && exec python3 bootstrap.py`).

Reads the pointer `current`, copies the version it names from the share's content-addressed
objects to local disk ($TMPDIR/aitk-infer/<id>/, each file checked by sha256, reused when
already there), then execs its launch.sh. The local copy keeps a running replica immune to later
deploys and pruning. Standard library only, Python 3.8+: it runs before any dependency exists.
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

ENTRYPOINT = "launch.sh"
# Keeps a crash-looping replica from hammering the share; tests and the local cloud shorten it.
FAILURE_PAUSE_S = float(os.environ.get("AITK_BOOTSTRAP_PAUSE_S", "10"))


class Incomplete(Exception):
    """The share does not hold the version the pointer names, whole."""


def _fail(message):
    print("aitk-infer: " + message, flush=True)
    time.sleep(FAILURE_PAUSE_S)
    return 1


def _copy_verified(source, target, sha256):
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as reader, open(target, "wb") as writer:
            for chunk in iter(lambda: reader.read(1024 * 1024), b""):
                digest.update(chunk)
                writer.write(chunk)
    except FileNotFoundError:
        raise Incomplete("object " + sha256 + " is missing") from None
    if digest.hexdigest() != sha256:
        raise Incomplete("object " + sha256 + " does not match its hash")


def _safe_relpath(relpath):
    parts = relpath.split("/")
    if not relpath or relpath.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise Incomplete("the manifest names an unsafe path '" + relpath + "'")
    return os.path.join(*parts)


def materialize(code_root, version, local_root):
    """The version's files in local_root/<version>/, built in a staging folder and renamed whole."""
    target = os.path.join(local_root, version)
    if os.path.isdir(target):
        return target
    try:
        with open(os.path.join(code_root, "versions", version + ".json"), encoding="utf-8") as handle:
            files = json.load(handle)["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise Incomplete("manifest versions/" + version + ".json is missing or unreadable") from None
    os.makedirs(local_root, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="." + version + ".", dir=local_root)
    try:
        for relpath, entry in sorted(files.items()):
            path = os.path.join(staging, _safe_relpath(relpath))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _copy_verified(os.path.join(code_root, "objects", entry["sha256"]), path, entry["sha256"])
            os.chmod(path, entry.get("mode", 0o644))
        try:
            os.rename(staging, target)
        except OSError:  # another replica on this host finished first: use its copy
            if not os.path.isdir(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main():
    code_root = os.getcwd()
    try:
        with open(os.path.join(code_root, "current"), encoding="utf-8") as handle:
            version = handle.readline().strip()
    except FileNotFoundError:
        version = ""
    if not version:
        return _fail("no code deployed yet: run 'az aitk-infer deploy'")
    print("aitk-infer: starting version " + version, flush=True)
    try:
        local = materialize(code_root, version, os.path.join(tempfile.gettempdir(), "aitk-infer"))
    except Incomplete as ex:
        return _fail("version " + version + " is incomplete on the share (" + str(ex) + "): run "
                     "'az aitk-infer deploy' again")
    os.chdir(local)
    env = dict(os.environ, AITK_CODE_ROOT=code_root, AITK_VERSION=version)
    os.execvpe("bash", ["bash", os.path.join(local, ENTRYPOINT)], env)


if __name__ == "__main__":
    sys.exit(main())
