"""What the wheel carries besides the extension: the default project files that `init` writes.

setup.py reads this file too, so the list lives in one place. No imports: setup.py runs it bare.
"""
from pathlib import Path

BUNDLED_PATHS = ("infra/provision", "infra/README.md", "inference_src")
IGNORED_NAMES = ("__pycache__", ".pytest_cache")
IGNORED_SUFFIXES = (".pyc",)


def iter_bundle_files(root):
    """Yield the relative paths of every bundled file found under `root`, sorted."""
    root = Path(root)
    for rel in BUNDLED_PATHS:
        base = root / rel
        candidates = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in candidates:
            parts = path.relative_to(root).parts
            if any(part in IGNORED_NAMES for part in parts) or path.suffix in IGNORED_SUFFIXES:
                continue
            yield Path(*parts)
