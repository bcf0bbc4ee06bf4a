import json
from pathlib import Path

import pytest
from arm_schema import ArmSchemas
from bicep_reader import read_bicep

REPO = Path(__file__).resolve().parents[2]
PROVISION = REPO / "infra" / "provision"
# CI clones the repository with the shared reference folder beside it.
SCHEMAS = REPO.parent / "shared" / "reference" / "arm-schemas"


@pytest.fixture(scope="session")
def bicep_text() -> str:
    return (PROVISION / "inference.bicep").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def bicep(bicep_text):
    return read_bicep(bicep_text)


@pytest.fixture
def twin() -> dict:
    """A fresh copy per test, so tests may mutate it."""
    return json.loads((PROVISION / "inference.json").read_text(encoding="utf-8"))


@pytest.fixture
def parameters_file() -> dict:
    return json.loads((PROVISION / "inference.parameters.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def schemas() -> ArmSchemas:
    if not (SCHEMAS / "README.md").is_file():
        pytest.fail(f"ARM schemas not found at {SCHEMAS}: clone the shared reference folder beside the repo")
    return ArmSchemas(SCHEMAS)


@pytest.fixture
def resources_by_type(twin) -> dict:
    return {resource["type"]: resource for resource in twin["resources"]}
