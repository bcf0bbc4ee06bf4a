"""`az aitk-infer init`: writes the bundled project files into a folder."""
import filecmp
import shutil
from dataclasses import dataclass
from pathlib import Path

from azure.cli.core.azclierror import FileOperationError

from .bundle import iter_bundle_files
from .workspace import user_path


def bundled_root():
    """The files inside the installed wheel; in a source checkout, the repository itself."""
    packaged = Path(__file__).parent / "bundled"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent


@dataclass
class InitRequest:
    folder: str = "."
    force: bool = False


def init_workspace(_cmd, request):
    folder, force = request.folder, request.force
    root = user_path(folder, "--workspace").resolve()
    if root.exists() and not root.is_dir():
        raise FileOperationError(f"--workspace {folder}: exists and is not a folder. Fix: pass a "
                                 "folder path")
    source = bundled_root()
    files = list(iter_bundle_files(source))
    created, overwritten, unchanged, conflicts = [], [], [], []
    for rel in files:
        target = root / rel
        if not target.exists():
            created.append(rel)
        elif target.is_file() and filecmp.cmp(source / rel, target, shallow=False):
            unchanged.append(rel)
        else:
            conflicts.append(rel)
    if conflicts and not force:
        # Check everything before writing anything, so a refused init leaves the folder as it was.
        names = ", ".join(str(p) for p in conflicts[:5]) + (" ..." if len(conflicts) > 5 else "")
        raise FileOperationError(f"{root}: {len(conflicts)} file(s) already exist with other "
                                 f"content ({names}). Fix: pass --force to overwrite them, or "
                                 "choose an empty --workspace")
    for rel in conflicts:
        target = root / rel
        if target.is_dir():
            raise FileOperationError(f"{target}: is a folder where the file {rel} belongs. Fix: "
                                     "move it away and run init again")
        overwritten.append(rel)
    for rel in created + overwritten:
        try:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, root / rel)
        except OSError as ex:
            raise FileOperationError(f"{root / rel}: cannot be written ({ex.strerror}). Fix: make "
                                     f"{root} writable, or pass another --workspace") from None
    return {"workspace": str(root), "created": [str(p) for p in created],
            "overwritten": [str(p) for p in overwritten], "unchanged": len(unchanged)}
