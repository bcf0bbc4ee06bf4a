"""The demo scripts' user-facing error, and the one place where it is rendered."""

import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable
from types import ModuleType


class DemoAssetError(Exception):
    """Bad input or missing prerequisite; the message is one line that says what to fix."""


def require_module(module: str, pip_args: str) -> ModuleType:
    """Import `module`, or fail with the pip command that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DemoAssetError(f"missing Python package for '{module}': run: pip install {pip_args}") from exc


def installed_versions(pip_args: dict[str, str]) -> dict[str, str]:
    """Versions of the named distributions, read without importing them (importing torch is slow),
    or the pip command for the first one missing."""
    versions = {}
    for name, args in pip_args.items():
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError as exc:
            raise DemoAssetError(f"missing Python package '{name}': run: pip install {args}") from exc
    return versions


def run_cli(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a script's `main`, turning a DemoAssetError into a one-line message and exit code 2."""
    # Everything comes from local files; never wait on a model hub the demo cannot reach.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return main(argv)
    except DemoAssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
