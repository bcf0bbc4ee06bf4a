"""Hardening tests: faults, bad input, secrets and load, against one local cloud of their own
(the workflow fixtures, instantiated again here so injected faults and restarts disturb no other
test folder)."""
import json
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.workflow.conftest import (  # noqa: F401
    BASE_NAME,
    FIRST_START_S,
    Project,
    cloud,
    init_project,
    models,
    new_project,
)


@pytest.fixture(scope="session")
def tiny_share(models, tmp_path_factory):  # noqa: F811  (the imported fixture)
    """The tiny base and adapter laid out as on the share (AI Toolkit paths)."""
    root = tmp_path_factory.mktemp("tiny-share")
    shutil.copytree(models / "base", root / "model-cache" / BASE_NAME)
    shutil.copytree(models / "adapter", root / "models/qlora/qlora/gpu_model/adapter")
    return root


@dataclass
class SecuredApp:
    """A project provisioned with an API key and deployed, with every az output it produced."""
    project: Project
    api_key: str
    secret_parameters: Path | None = None
    outputs: list[str] = field(default_factory=list)

    def az(self, *args, check=True, timeout=300):
        result = self.project.az(*args, check=check, timeout=timeout)
        self.outputs.append(f"az {' '.join(args[:2])}\n{result.stdout}\n{result.stderr}")
        return result


@pytest.fixture(scope="session")
def secured_app(cloud, models, tmp_path_factory):  # noqa: F811  (the imported fixtures)
    """Provisioned with a canary API key and deployed (with --debug, as a user reporting a bug would)."""
    folder = tmp_path_factory.mktemp("secured")
    app = SecuredApp(Project(cloud, init_project(cloud, folder / "project")),
                     api_key=f"canary-api-key-{uuid.uuid4().hex}")
    # From a file outside the project, as advised: az --debug echoes its command line.
    secret_parameters = folder / "secret.parameters.json"
    secret_parameters.write_text(json.dumps({"parameters": {"apiKey": {"value": app.api_key}}}))
    app.secret_parameters = secret_parameters
    app.az("aitk-infer", "provision", "-g", "rg-secured", "-l", "westus3", "--yes", "--parameters",
           f"@{secret_parameters}", "--debug")
    # A first start on a machine that has not packed the environment yet (see tests/workflow/conftest.py).
    app.az("aitk-infer", "deploy", "--adapter-dir", str(models / "adapter"), "--base-model-dir",
           str(models / "base"), "--timeout", str(FIRST_START_S), "--debug", timeout=FIRST_START_S + 60)
    return app
