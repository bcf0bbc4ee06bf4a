"""Settings every test shares: az sees the extension `make test` installed into .venv; the groups the
parallel run keeps together."""
import os

import pytest

from tests.paths import REPO

# The Makefile exports these; set them too when pytest runs on its own.
os.environ.setdefault("AZURE_EXTENSION_DIR", str(REPO / ".venv" / "az-extensions"))
os.environ.setdefault("AZURE_CONFIG_DIR", str(REPO / ".venv" / "azure-config"))

# `make test` runs the suite in parallel (pytest-xdist, `--dist loadgroup`): a group runs in one worker.
# Tests of a deployed app share its costly start (`served`: a first start that installs the requirements;
# `secured_app`), so each app's tests form a group; every other test stays with its module, whose fixtures
# it shares. The apps' groups take longest, so they are queued first, and no worker is left with one at the end.
_SHARED_APPS = ("served", "secured_app")


def _app_of(item):
    return next((i for i, name in enumerate(_SHARED_APPS) if name in item.fixturenames), len(_SHARED_APPS))


def pytest_collection_modifyitems(items):
    for item in items:
        app = _app_of(item)
        group = _SHARED_APPS[app] if app < len(_SHARED_APPS) else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_app_of)  # stable: each group keeps its collection order
