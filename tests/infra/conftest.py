import json
import os
from pathlib import Path

import pytest
from arm_schema import PINNED_COMMIT, ArmSchemas, SchemaMissing, locate_schemas
from bicep_reader import read_bicep

REPO = Path(__file__).resolve().parents[2]
PROVISION = REPO / "infra" / "provision"
# Where downloaded schema files are kept between runs (only when no local copy exists).
SCHEMA_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aitk-infer" / \
    "arm-schemas" / PINNED_COMMIT


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
    try:
        return ArmSchemas(locate_schemas(REPO, SCHEMA_CACHE))
    except SchemaMissing as ex:
        pytest.fail(str(ex), pytrace=False)


@pytest.fixture
def resources_by_type(twin) -> dict:
    return {resource["type"]: resource for resource in twin["resources"]}
