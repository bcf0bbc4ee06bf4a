"""The Python environment the requirements need, built once per key and shared through the share.

The first start builds a venv on local disk that sees the image's own site-packages (a .pth file
adds the ones this interpreter has; `--system-site-packages` would miss them when the image's
python3 is itself a venv), so the image's torch stays visible and pip never installs one. It packs
the venv's site-packages into one archive on the share (`envs/<key>.tar.gz`, written under a
temporary name and renamed) and starts. Later starts and new replicas unpack that one file to
local disk: no pip, and no thousands of small files read over SMB. Replicas starting together take
a byte-range lock on `envs/<key>.lock` (SMB sends it to the server, see `nobrl` in mount.cifs(8);
the kernel drops it when its holder dies): one builds, the others wait for the archive.

The key covers the requirements and constraints, the interpreter, and every distribution the
interpreter already has (torch among them), so another image or torch never reuses an environment.
Paths never depend on the PID: it is 1 in every replica.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
import zlib
from importlib.metadata import PackageNotFoundError, distributions, version

from . import log

REQUIREMENTS = "requirements.txt"
CONSTRAINTS = "constraints.txt"
WAIT_POLL_S = 2.0
# gzip level 1: a third of the bytes over SMB (about 60 MiB/s per file) for little CPU at both ends.
COMPRESS_LEVEL = 1


class BuildFailed(Exception):
    """pip could not install the requirements; the message is the reason /ready gives."""


def _pins(folder: str) -> list[tuple[str, str]]:
    pins = []
    with open(os.path.join(folder, REQUIREMENTS), encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                name, _, pinned = line.partition("==")
                pins.append((name.strip(), pinned.strip()))
    return pins


def satisfied(folder: str) -> bool:
    """The interpreter has every pin exactly (an image built with them): no environment needed."""
    try:
        return all(version(name) == pinned for name, pinned in _pins(folder))
    except PackageNotFoundError:
        return False


def key(folder: str) -> str:
    digest = hashlib.sha256()
    for name in (REQUIREMENTS, CONSTRAINTS):
        with open(os.path.join(folder, name), "rb") as handle:
            digest.update(handle.read())
    digest.update(f"{sys.version}\n{sys.executable}\n".encode())
    installed = sorted({f"{d.metadata['Name']}=={d.version}".lower() for d in distributions()})
    digest.update("\n".join(installed).encode())
    return digest.hexdigest()[:16]


def _site_packages(env: str) -> str:
    return os.path.join(env, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages")


def _python(env: str) -> str:
    return os.path.join(env, "bin", "python")


def _new_venv(local_root: str, env_key: str) -> str:
    staging = tempfile.mkdtemp(prefix=f".env-{env_key}.", dir=local_root)
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(staging)
    image_sites = [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]
    # After the venv's own site-packages, so what pip installs there wins over the image's copy.
    with open(os.path.join(_site_packages(staging), "_aitk_image_site.pth"), "w", encoding="utf-8") as pth:
        pth.write(f"import site; list(map(site.addsitedir, {image_sites!r}))\n")
    return staging


def _install(folder: str, staging: str, torch: str) -> None:
    """pip, run by the image's interpreter for the venv, with the image's torch pinned as found."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=staging) as pinned:
        pinned.write(f"torch=={torch}\n")
        pinned.flush()
        command = [sys.executable, "-m", "pip", "--python", _python(staging), "install", "--quiet",
                   "--no-input", "--disable-pip-version-check", "--progress-bar", "off",
                   "-r", os.path.join(folder, REQUIREMENTS), "-c", pinned.name]
        code = subprocess.call(command, stdin=subprocess.DEVNULL)
    if code != 0:
        raise BuildFailed(f"installing {REQUIREMENTS} failed (pip exit {code}; its error is in the log "
                          "above)")


def _pack(staging: str, archive: str) -> int:
    """Write the archive under a temporary name beside it, then rename: readers see all or nothing."""
    handle, partial = tempfile.mkstemp(prefix="." + os.path.basename(archive) + ".",
                                       suffix=".partial", dir=os.path.dirname(archive))
    try:
        # GNU format: the default (pax) gives every member a header of its own for its float mtime, which
        # doubles the headers each later start parses (unpacking 19,019 members: 8.7 s against 10.5 s).
        with os.fdopen(handle, "wb") as raw, \
                tarfile.open(fileobj=raw, mode="w:gz", compresslevel=COMPRESS_LEVEL,
                             format=tarfile.GNU_FORMAT) as tar:
            tar.add(_site_packages(staging), arcname=".")
        os.chmod(partial, 0o644)
        os.rename(partial, archive)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return os.path.getsize(archive)


def _data_members(tar: tarfile.TarFile):
    for member in tar:
        parts = member.name.split("/")
        link = os.path.normpath(os.path.join(os.path.dirname(member.name), member.linkname))
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir() or
                                                               member.issym()) or \
                (member.issym() and (member.linkname.startswith("/") or link.split("/")[0] == "..")):
            raise tarfile.TarError(f"unsafe member {member.name[:80]!r}")
        member.mode &= 0o755
        yield member


def _place(staging: str, target: str) -> str:
    try:
        os.rename(staging, target)
    except OSError:  # another start in this container finished first: keep its copy
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.isdir(target):
            raise
    return _python(target)


def _unpack(archive: str, local_root: str, env_key: str, target: str) -> str:
    started = time.monotonic()
    staging = _new_venv(local_root, env_key)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # The share is writable by anyone with its key: the data filter refuses links and paths
            # out of the folder, device files and setuid modes.
            if hasattr(tarfile, "data_filter"):
                tar.extractall(_site_packages(staging), filter="data")
            else:  # Python before 3.11.4 (e.g. Debian 12's 3.11.2): the same checks, by hand
                tar.extractall(_site_packages(staging), members=_data_members(tar))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"environment {env_key} unpacked from the share in {time.monotonic() - started:.1f} s")
    return _place(staging, target)


def _build(folder: str, local_root: str, env_key: str, target: str, archive: str, torch: str) -> str:
    started = time.monotonic()
    log(f"environment {env_key}: installing {REQUIREMENTS} (first start with these requirements, "
        "this interpreter and this torch)")
    staging = _new_venv(local_root, env_key)
    try:
        _install(folder, staging, torch)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    built = time.monotonic()
    log(f"environment {env_key} installed in {built - started:.1f} s")
    try:
        size = _pack(staging, archive)
        log(f"environment {env_key} packed to the share in {time.monotonic() - built:.1f} s "
            f"({size / 2**20:.0f} MiB)")
    except OSError as ex:  # this replica still starts; the next one builds again
        log(f"environment {env_key} could not be packed to the share ({ex.strerror or ex}); starting anyway")
    return _place(staging, target)


def _try_lock(lock) -> bool:
    try:
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def ensure(folder: str, environments: str, local_root: str, torch: str) -> str:
    """The interpreter of the environment for this folder's requirements (see the module doc)."""
    env_key = key(folder)
    target = os.path.join(local_root, "env-" + env_key)
    if os.path.isdir(target):
        return _python(target)
    os.makedirs(local_root, exist_ok=True)
    os.makedirs(environments, exist_ok=True)
    archive = os.path.join(environments, env_key + ".tar.gz")
    with open(os.path.join(environments, env_key + ".lock"), "a") as lock:
        waiting, broken = False, None
        while True:
            stamp = _stamp(archive)
            if stamp is not None and stamp != broken:
                try:
                    return _unpack(archive, local_root, env_key, target)
                except (OSError, EOFError, tarfile.TarError, zlib.error) as ex:
                    log(f"the packed environment {archive} is unreadable ({ex}); building it again")
                    broken = stamp
            if _try_lock(lock):
                try:
                    if _stamp(archive) not in (None, broken):  # finished while this start waited
                        continue
                    return _build(folder, local_root, env_key, target, archive, torch)
                finally:
                    fcntl.lockf(lock, fcntl.LOCK_UN)
            if not waiting:
                log(f"environment {env_key}: another replica is building it; waiting for {archive}")
                waiting = True
            time.sleep(WAIT_POLL_S)


def _stamp(path: str) -> tuple[int, int] | None:
    """Which archive is there (size, mtime), None when none is."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_size, info.st_mtime_ns
