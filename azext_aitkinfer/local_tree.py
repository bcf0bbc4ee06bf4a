"""The local side of an upload: which files of a folder ship (ignores, symlinks, names Azure Files
accepts) and their contents with the hashes that name and check them. No network here."""
import base64
import hashlib
import io
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from azure.cli.core.azclierror import FileOperationError
from knack.log import get_logger

logger = get_logger(__name__)

IGNORE_FILE = ".aitkignore"
# Never shipped: VCS data, caches, local virtualenvs.
DEFAULT_IGNORES = (".git/", "__pycache__/", "*.pyc", ".venv/", IGNORE_FILE)
# Never shipped either, and named when skipped: files that usually hold credentials. The share is
# readable by everyone holding the storage key, so a stray key file there is a leak. A project
# that really needs one ships it with a `!name` line in .aitkignore.
SECRET_IGNORES = (".env", ".env.*", ".envrc", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
                  "*.pem", "*.key", "*.p12", "*.pfx", ".netrc", "_netrc", ".git-credentials",
                  ".npmrc", ".pypirc", ".pgpass", ".aws/", ".ssh/", ".azure/", ".kube/",
                  ".docker/config.json")
# Kept: templates of such files hold no secret.
SECRET_TEMPLATES = ("!.env.example", "!.env.sample", "!.env.template")
_READ_CHUNK = 1024 * 1024
DEFAULT_WORKERS = 8
# Characters Azure Files refuses in names (Naming and Referencing Shares, Directories, Files).
_AZURE_FORBIDDEN = re.compile(r'["\\:|<>*?\x00-\x1f]')


@dataclass(frozen=True)
class Content:
    """Bytes to upload, from a file or memory, with the hashes that name and check them."""
    size: int
    sha256: str
    md5: bytes
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of_bytes(cls, data):
        return cls(len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).digest(), data=data)

    @classmethod
    def of_file(cls, path):
        sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                sha.update(chunk)
                md5.update(chunk)
                size += len(chunk)
        return cls(size, sha.hexdigest(), md5.digest(), path=Path(path))

    @property
    def md5_base64(self):
        return base64.b64encode(self.md5).decode()

    def open(self):
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")


@dataclass(frozen=True)
class LocalFile:
    relpath: str  # POSIX, relative to the scanned folder
    mode: int  # 0o755 or 0o644: only the executable bit survives, so versions do not depend on umask
    content: Content


class IgnoreRules:
    """gitignore semantics (pathspec's): the built-in ignores, then the secret-looking names, then
    the folder's .aitkignore, whose `!pattern` lines can re-include any of them."""

    def __init__(self, root, user_lines=()):
        import pathspec
        self.root = root
        self._spec = pathspec.GitIgnoreSpec.from_lines(
            [*DEFAULT_IGNORES, *SECRET_IGNORES, *SECRET_TEMPLATES, *user_lines])
        self._secrets = pathspec.GitIgnoreSpec.from_lines([*SECRET_IGNORES, *SECRET_TEMPLATES])
        self.skipped_secrets = []

    @classmethod
    def for_folder(cls, root):
        source = root / IGNORE_FILE
        if not source.is_file():
            return cls(root)
        try:
            return cls(root, source.read_text(encoding="utf-8-sig").splitlines())
        except (OSError, UnicodeDecodeError) as ex:
            raise FileOperationError(f"{source}: cannot be read ({ex}). Fix: save it as UTF-8 "
                                     "text, one pattern a line") from None

    def ignored(self, relpath, is_dir):
        path = relpath + "/" if is_dir else relpath
        if not self._spec.match_file(path):
            return False
        if self._secrets.match_file(path):
            self.skipped_secrets.append(path)
        return True


def _walk(root, rules):
    """Yield (relpath, path) of the files to ship; symlinks are followed only inside `root`."""
    root_real = Path(os.path.realpath(root))
    stack = [(root_real, "", (root_real,))]
    while stack:
        directory, prefix, ancestors = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                relpath = prefix + entry.name
                is_dir = entry.is_dir()  # follows symlinks
                if rules.ignored(relpath, is_dir):
                    continue
                real = Path(os.path.realpath(entry.path))
                if entry.is_symlink():
                    _check_link(root, relpath, real, root_real)
                if is_dir:
                    if real in ancestors:
                        raise FileOperationError(f"{root / relpath}: symlink loop (points to its own "
                                                 "parent folder). Fix: remove the link")
                    stack.append((real, relpath + "/", (*ancestors, real)))
                elif entry.is_file():
                    yield relpath, real
                else:
                    logger.warning("%s: not a regular file (socket, device or pipe), skipped",
                                   root / relpath)


def _check_link(root, relpath, real, root_real):
    if not real.is_relative_to(root_real):
        raise FileOperationError(
            f"{root / relpath}: symlink points outside {root} (to {real}). Fix: copy "
            f"the target into the folder or list the link in {root / IGNORE_FILE}")
    if not real.exists():
        raise FileOperationError(f"{root / relpath}: broken symlink (to {real}). Fix: "
                                 f"remove it or list it in {root / IGNORE_FILE}")


def check_azure_names(root, relpaths):
    for relpath in relpaths:
        if _AZURE_FORBIDDEN.search(relpath):
            raise FileOperationError(f"{Path(root) / relpath}: Azure Files does not allow the characters "
                                     '" \\ : | < > * ? in names. Fix: rename it or list it in '
                                     f"{Path(root) / IGNORE_FILE}")


def _list_files(root):
    """Sorted [(relpath, real path)] of what ships from `root`; names the secret-looking files
    it skipped, once."""
    rules = IgnoreRules.for_folder(root)
    found = sorted(_walk(root, rules))
    if rules.skipped_secrets:
        names = ", ".join(sorted(rules.skipped_secrets))
        logger.warning("%s: not uploaded, they look like credentials: %s. To ship one anyway, add "
                       "'!<name>' to %s", root, names, root / IGNORE_FILE)
    return found


def check_folder(root):
    """What an upload refuses in a local folder (links leaving it, names Azure Files forbids),
    found without hashing, so a command can refuse it before its first request."""
    root = Path(root)
    check_azure_names(root, [relpath for relpath, _ in _list_files(root)])


def scan_tree(root, workers=DEFAULT_WORKERS, large_file_bytes=None):
    """{relpath: LocalFile} for the folder, ignores applied, hashed in parallel (hashlib frees the
    GIL). With `large_file_bytes`, files at least that big are named in a warning."""
    root = Path(root)
    if not root.is_dir():
        raise FileOperationError(f"{root}: not a folder. Fix: pass an existing folder")
    found = _list_files(root)

    def load(item):
        relpath, path = item
        mode = 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644
        try:
            return LocalFile(relpath, mode, Content.of_file(path))
        except OSError as ex:
            raise FileOperationError(f"{root / relpath}: cannot be read ({ex.strerror}). Fix: check "
                                     "its permissions") from None

    with ThreadPoolExecutor(max(1, min(workers, os.cpu_count() or 1))) as pool:
        local = {f.relpath: f for f in pool.map(load, found)}
    large = [f for f in local.values() if large_file_bytes and f.content.size >= large_file_bytes]
    for item in large:
        logger.warning("%s: %.0f MiB in the code folder; every replica copies it at start. Fix: "
                       "list it in %s, or upload model files with --base-model-dir/--adapter-dir",
                       root / item.relpath, item.content.size / 2**20, root / IGNORE_FILE)
    return local
