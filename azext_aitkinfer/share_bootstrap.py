"""Start command of the inference container (`cd /mount/aitk-infer && exec python3 bootstrap.py`).

Reads the pointer `current`, copies the version it names from the share's content-addressed
objects to local disk ($TMPDIR/aitk-infer/<id>/, each file checked by sha256, reused when
already there), then execs its launch.sh. The local copy keeps a running replica immune to later
deploys and pruning. Standard library only, Python 3.8+: it runs before any dependency exists.

Anyone holding the storage key can write to the share, so nothing read from it is trusted: names
are fixed patterns, sizes are bounded before reading, modes are masked, and every refusal is one
log line (never a traceback) and no start of that version.

This file is also THE definition of the share layout: codeversions.py (the extension) imports the
names below; launch.sh and the start module read them from the environment variables main() sets.
"""
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time

# The share layout, relative to the share root (the container mounts it at /mount).
ROOT = "aitk-infer"           # this file's folder on the share, the start command's working folder
OBJECTS = "objects"           # objects/<sha256>: file contents, immutable
VERSIONS = "versions"         # versions/<id>.json: {"version", "created", "files": {relpath: entry}}
POINTER = "current"           # the active id on the first line, older ids below, newest first
BOOTSTRAP = "bootstrap.py"    # this file, as deploy uploads it
ENVIRONMENTS = "envs"         # packed Python environments, built once by a first start
ENTRYPOINT = "launch.sh"      # what a version runs
VERSION_ID = re.compile(r"[0-9a-f]{16}")
OBJECT_ID = re.compile(r"[0-9a-f]{64}")
# Bounds a deploy stays within (codeversions.py checks them before uploading).
MAX_FILES = 10000
MAX_MANIFEST_BYTES = 4 * 2**20
MAX_POINTER_BYTES = 4096
# Variables main() gives launch.sh: where the share's copy and the local copy of the layout are.
ENV_CODE_ROOT = "AITK_CODE_ROOT"
ENV_ENVIRONMENTS = "AITK_ENVIRONMENTS"
ENV_LOCAL_ROOT = "AITK_LOCAL_ROOT"
ENV_VERSION = "AITK_VERSION"
STARTING = "aitk-infer: starting version "  # the log line deploy's wait reads a start's outcome after

# Keeps a crash-looping replica from hammering the share; tests and the local cloud shorten it.
FAILURE_PAUSE_S = float(os.environ.get("AITK_BOOTSTRAP_PAUSE_S", "10"))
_SHOWN = 40  # characters of untrusted text a log line may quote


class Refused(Exception):
    """The share does not hold the version the pointer names, whole and well-formed."""


def _fail(message):
    print("aitk-infer: " + message, flush=True)
    time.sleep(FAILURE_PAUSE_S)
    return 1


def _quote(text):
    return repr(text[:_SHOWN] + ("..." if len(text) > _SHOWN else ""))


def _read_bounded(path, limit, what):
    """The file's bytes, refused by its size before it is read; None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise Refused(f"{what} is {size} bytes, more than the {limit} a deploy writes")
            return handle.read(limit + 1)[:limit]
    except FileNotFoundError:
        return None
    except OSError as ex:
        raise Refused(f"{what} cannot be read ({ex.strerror})") from None


def read_pointer(code_root):
    """The active version id, '' before the first deploy."""
    raw = _read_bounded(os.path.join(code_root, POINTER), MAX_POINTER_BYTES, "the pointer '" + POINTER + "'")
    lines = raw.decode("utf-8", "replace").splitlines() if raw else []
    version = lines[0].strip() if lines else ""
    if version and not VERSION_ID.fullmatch(version):
        raise Refused(f"the pointer '{POINTER}' names {_quote(version)}, not a version id (16 hex digits)")
    return version


def _safe_relpath(relpath, manifest):
    parts = relpath.split("/")
    if not relpath or relpath.startswith("/") or any(p in ("", ".", "..") or "\x00" in p for p in parts):
        raise Refused(f"manifest {manifest} names an unsafe path {_quote(relpath)}")
    return os.path.join(*parts)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_manifest(code_root, version):
    """[(local relpath, sha256, size, mode)] of a well-formed manifest, else Refused."""
    name = f"{VERSIONS}/{version}.json"
    raw = _read_bounded(os.path.join(code_root, VERSIONS, version + ".json"), MAX_MANIFEST_BYTES,
                        "manifest " + name)
    if raw is None:
        raise Refused(f"manifest {name} is missing")
    try:
        files = json.loads(raw.decode("utf-8"))["files"]
    except (ValueError, KeyError, TypeError):
        raise Refused(f"manifest {name} is not a JSON object with 'files'") from None
    if not isinstance(files, dict):
        raise Refused(f"manifest {name}: 'files' is not an object")
    if len(files) > MAX_FILES:
        raise Refused(f"manifest {name} lists {len(files)} files, more than {MAX_FILES}")
    entries = []
    for relpath, entry in sorted(files.items()):
        if not isinstance(entry, dict):
            raise Refused(f"manifest {name}: the entry of {_quote(relpath)} is not an object")
        sha256, size, mode = entry.get("sha256"), entry.get("size"), entry.get("mode", 0o644)
        if not isinstance(sha256, str) or not OBJECT_ID.fullmatch(sha256):
            raise Refused(f"manifest {name}: {_quote(relpath)} names object {_quote(str(sha256))}, not a sha256")
        if not _is_int(size) or not _is_int(mode):
            raise Refused(f"manifest {name}: {_quote(relpath)} has no whole size and mode")
        # No setuid/setgid/sticky bits, nothing group- or world-writable; the owner may read and write.
        entries.append((_safe_relpath(relpath, name), sha256, size, (mode & 0o755) | 0o600))
    return entries


def _copy_verified(source, target, sha256, size):
    """Copy at most `size` bytes: an object longer than the manifest says is refused, not copied on."""
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as reader, open(target, "wb") as writer:
            while True:
                chunk = reader.read(min(2**20, size + 1 - writer.tell()))
                if not chunk:
                    break
                if writer.tell() + len(chunk) > size:
                    raise Refused("object " + sha256 + " is larger than the manifest says")
                digest.update(chunk)
                writer.write(chunk)
    except FileNotFoundError:
        raise Refused("object " + sha256 + " is missing") from None
    if digest.hexdigest() != sha256:
        raise Refused("object " + sha256 + " does not match its hash")


def materialize(code_root, version, local_root):
    """The version's files in local_root/<version>/, built in a staging folder and renamed whole."""
    target = os.path.join(local_root, version)
    if os.path.isdir(target):
        return target
    entries = read_manifest(code_root, version)
    os.makedirs(local_root, exist_ok=True)
    needed, free = sum(e[2] for e in entries), shutil.disk_usage(local_root).free
    if needed > free:
        raise Refused(f"its files need {needed} bytes, the local disk has {free} free")
    staging = tempfile.mkdtemp(prefix="." + version + ".", dir=local_root)
    try:
        for relpath, sha256, size, mode in entries:
            path = os.path.join(staging, relpath)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _copy_verified(os.path.join(code_root, OBJECTS, sha256), path, sha256, size)
            os.chmod(path, mode)
        try:
            os.rename(staging, target)
        except OSError:  # another replica on this host finished first: use its copy
            if not os.path.isdir(target):
                raise
    except OSError as ex:
        raise Refused(f"copying it to {local_root} failed ({ex.strerror})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main():
    code_root = os.getcwd()
    try:
        version = read_pointer(code_root)
    except Refused as ex:
        return _fail(f"refusing to start: {ex}. Fix: run 'az aitk-infer deploy' again")
    if not version:
        return _fail("no code deployed yet: run 'az aitk-infer deploy'")
    print(STARTING + version, flush=True)
    local_root = os.path.join(tempfile.gettempdir(), ROOT)
    try:
        local = materialize(code_root, version, local_root)
    except Refused as ex:
        return _fail(f"refusing to start version {version}: {ex}. Fix: run 'az aitk-infer deploy' again")
    os.chdir(local)
    env = dict(os.environ, **{ENV_CODE_ROOT: code_root, ENV_VERSION: version, ENV_LOCAL_ROOT: local_root,
                              ENV_ENVIRONMENTS: os.path.join(code_root, ENVIRONMENTS)})
    return os.execvpe("bash", ["bash", os.path.join(local, ENTRYPOINT)], env)  # replaces this process


if __name__ == "__main__":
    sys.exit(main())
