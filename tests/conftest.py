"""Settings every test shares: az sees the extension `make test` installed into .venv; what the
parallel run keeps in one worker."""
import os

import pytest

from tests.paths import REPO

# The Makefile exports these; set them too when pytest runs on its own.
os.environ.setdefault("AZURE_EXTENSION_DIR", str(REPO / ".venv" / "az-extensions"))
os.environ.setdefault("AZURE_CONFIG_DIR", str(REPO / ".venv" / "azure-config"))

# `make test` runs in pytest-xdist workers. The modules that share a deployed app (a session fixture
# whose start takes minutes) run in one worker, in collection order (some tests build on the restarts
# of earlier ones); every other module is a unit of its own. The controller sees only node ids, so
# the modules are named here, and collection refuses a module that uses an app without being named.
SHARED_APPS = {
    "served": ("tests/workflow/test_first_start.py", "tests/workflow/test_browser.py",
               "tests/workflow/test_deploy_failures.py", "tests/workflow/test_deploy_concurrency.py",
               "tests/workflow/test_journey.py"),
    "secured_app": ("tests/hardening/test_hardening_bad_input.py", "tests/hardening/test_hardening_secrets.py",
                    "tests/hardening/test_hardening_cloud_restart.py"),
}
# Folders whose modules deploy apps of their own (minutes each).
_DEPLOYING = ("tests/workflow/", "tests/hardening/")
_APP_OF_MODULE = {module: app for app, modules in SHARED_APPS.items() for module in modules}


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _uses(item, fixture: str) -> bool:
    callspec = getattr(item, "callspec", None)  # a parameter of the same name is not the fixture
    return fixture in item.fixturenames and not (callspec and fixture in callspec.params)


def pytest_collection_modifyitems(items):
    for item in items:
        for app in SHARED_APPS:
            if _uses(item, app) and _APP_OF_MODULE.get(_module(item.nodeid)) != app:
                raise pytest.UsageError(f"{_module(item.nodeid)} uses the fixture {app!r}: add it to "
                                        f"SHARED_APPS[{app!r}] in tests/conftest.py")
    items.sort(key=_queue_position)  # stable: each module keeps its order


def _queue_position(item) -> tuple[int, int]:
    """The apps' units take longest, then the other modules that deploy apps: they go first, so that no worker
    is left alone with a long one at the end while the others have finished."""
    module = _module(item.nodeid)
    if module in _APP_OF_MODULE:
        return 0, list(SHARED_APPS).index(_APP_OF_MODULE[module])
    return (1 if module.startswith(_DEPLOYING) else 2), 0


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SharedAppScheduling(LoadScopeScheduling):
        """--dist loadscope with one unit per shared app, and units in collection order."""

        def _split_scope(self, nodeid):
            return _APP_OF_MODULE.get(_module(nodeid), _module(nodeid))

    config.option.loadscopereorder = False
    return SharedAppScheduling(config, log)
