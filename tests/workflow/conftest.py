"""The product's commands through the real az against one local cloud, in a project folder made
by `az aitk-infer init`, with a tiny base model and an adapter trained to say a fixed phrase."""
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from azext_aitkinfer import share_bootstrap as layout
from localcloud.storage.models import FileStore
from localcloud.testing import Cloud, session_cloud
from tests.inference.fixtures_models import build_base, edit_adapter_config, train_adapter
from tests.paths import MACHINE_CACHE, REPO

BASE_NAME = "tiny-org/tiny-chat"  # the adapter's base_model_name_or_path, as a hub id
# The first start installs the requirements in the replica (localcloud keeps pip's download cache per
# machine, so only the first run on a machine downloads them).
FIRST_START_S = 900
# The environment a first start packs to the share, kept per machine: tests that are not about the
# first start put it on their new share first, as a share where it was built before has it.
ENVIRONMENT_CACHE = MACHINE_CACHE / "environments"
# What a replica's start says in its log (aitk_start).
INSTALLING = "installing requirements.txt"
UNPACKED = "unpacked from the share"
LAST_START = "aitk-infer: starting version "


def last_start(log: str) -> str:
    """The log from the replica's last start on."""
    return log[log.rindex(LAST_START):]


def _environments(project) -> Path:
    config = project.config
    share = FileStore(project.cloud.state / "files").share_path(config["STORAGE_ACCOUNT_NAME"],
                                                                config["FILE_SHARE_NAME"])
    return share / layout.ROOT / layout.ENVIRONMENTS


def keep_environment(project):
    """After a start: keep the packed environment it built (or found) for this machine's next tests."""
    ENVIRONMENT_CACHE.mkdir(parents=True, exist_ok=True)
    for archive in _environments(project).glob("*.tar.gz"):
        if not (ENVIRONMENT_CACHE / archive.name).exists():
            # A name of its own: another worker may be keeping the same archive at this moment.
            handle, partial = tempfile.mkstemp(prefix=f".{archive.name}.", suffix=".partial", dir=ENVIRONMENT_CACHE)
            os.close(handle)
            shutil.copyfile(archive, partial)
            os.rename(partial, ENVIRONMENT_CACHE / archive.name)


def reuse_environment(project):
    """Before a deploy on a new share: the environments this machine built, where the start looks."""
    target = _environments(project)
    target.mkdir(parents=True, exist_ok=True)
    for archive in ENVIRONMENT_CACHE.glob("*.tar.gz"):
        if not (target / archive.name).exists():
            shutil.copyfile(archive, target / archive.name)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    with session_cloud(tmp_path_factory.mktemp("workflow-cloud")) as started:
        # The extension `make test` installed lives beside the venv, not in this cloud's config dir.
        started.env.setdefault("AZURE_EXTENSION_DIR", str(REPO / ".venv" / "az-extensions"))
        started.env["AITK_BOOTSTRAP_PAUSE_S"] = "1"
        yield started


def build_models(root):
    """A tiny base and an adapter that answers PHRASE, as a user has them after fine-tuning."""
    build_base(root / "base")
    train_adapter(root / "base", root / "adapter")
    edit_adapter_config(root / "adapter", base_model_name_or_path=BASE_NAME)
    return root


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    return build_models(tmp_path_factory.mktemp("models"))


def init_project(cloud: Cloud, folder):
    result = cloud.az("aitk-infer", "init", "--workspace", str(folder), "-o", "none")
    assert result.returncode == 0, result.stderr
    return folder


class Project:
    """A project folder and the az commands a user types in it."""

    def __init__(self, cloud: Cloud, root, first_start=False):
        self.cloud, self.root = cloud, root
        # False: deploys start from this machine's packed environment (see reuse_environment);
        # True: the replica builds it, as a first start does.
        self.first_start = first_start

    def az(self, *args, check=True, timeout=300):
        if args[:2] == ("aitk-infer", "deploy") and not self.first_start and \
                (self.root / "infra" / "inference.config.json").exists():
            reuse_environment(self)
        result = subprocess.run([str(REPO / ".venv" / "bin" / "az"), *args], cwd=self.root,
                                env=self.cloud.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"az {' '.join(args[:3])} failed ({result.returncode}): "
                                 f"{result.stderr[-3000:]}")
        return result

    def az_json(self, *args, **kwargs):
        return json.loads(self.az(*args, "-o", "json", "--only-show-errors", **kwargs).stdout)

    @property
    def config(self):
        return json.loads((self.root / "infra" / "inference.config.json").read_text())

    def config_bytes(self):
        path = self.root / "infra" / "inference.config.json"
        return path.read_bytes() if path.exists() else None


@pytest.fixture
def new_project(cloud, tmp_path):
    return Project(cloud, init_project(cloud, tmp_path / "project"))


@pytest.fixture(scope="session")
def served(cloud, models, tmp_path_factory):
    """One provisioned and deployed app shared by the tests that only read or redeploy it."""
    # Its first deploy starts from this machine's packed environment when there is one (building it is
    # test_first_start_own_apps.py's), and builds it within FIRST_START_S when there is none.
    project = Project(cloud, init_project(cloud, tmp_path_factory.mktemp("served") / "project"))
    project.az("aitk-infer", "provision", "-g", "rg-served", "-l", "westus3", "--yes", "-o", "none")
    project.az("aitk-infer", "deploy", "--adapter-dir", str(models / "adapter"),
               "--base-model-dir", str(models / "base"), "--timeout", str(FIRST_START_S), "-o", "none",
               timeout=FIRST_START_S + 60)
    keep_environment(project)
    return project
