"""The workspace model in-process: finding the project, parameters, atomic config writes."""
import json
import os

import pytest
from azure.cli.core.azclierror import AzCLIError

from azext_aitkinfer.workspace import Workspace, write_json_atomic


@pytest.fixture
def project(tmp_path):
    (tmp_path / "infra" / "provision").mkdir(parents=True)
    return tmp_path


def test_find_walks_up_to_the_folder_holding_infra(project):
    nested = project / "inference_src" / "deep"
    nested.mkdir(parents=True)
    assert Workspace.find(start=nested).root == project.resolve()


def test_explicit_workspace_without_infra_is_refused(tmp_path):
    with pytest.raises(AzCLIError, match="has no infra/ folder.*az aitk-infer init"):
        Workspace.find(str(tmp_path))


def test_write_config_keeps_user_keys_and_their_order(project):
    path = project / "infra" / "inference.config.json"
    path.write_text(json.dumps({"MY_NOTE": "x", "ACA_APP_ENDPOINT": "old"}))
    Workspace(project).write_config({"ACA_APP_ENDPOINT": "new", "ACA_APP_NAME": "app"})
    assert list(json.loads(path.read_text()).items()) == [
        ("MY_NOTE", "x"), ("ACA_APP_ENDPOINT", "new"), ("ACA_APP_NAME", "app")]


def test_write_config_refuses_to_replace_a_malformed_file(project):
    path = project / "infra" / "inference.config.json"
    path.write_text('{"ACA_APP_ENDPOINT": ')
    with pytest.raises(AzCLIError, match="invalid JSON"):
        Workspace(project).write_config({"ACA_APP_ENDPOINT": "new"})
    assert path.read_text() == '{"ACA_APP_ENDPOINT": '


def test_atomic_write_leaves_the_old_file_whole_when_serialisation_fails(project):
    path = project / "infra" / "inference.config.json"
    path.write_text('{"A": "1"}')
    with pytest.raises(TypeError):
        write_json_atomic(path, {"A": object()})
    assert path.read_text() == '{"A": "1"}'
    assert sorted(os.listdir(path.parent)) == ["inference.config.json", "provision"]


@pytest.mark.parametrize("content,expected", [
    ('{"parameters": []}', "key 'parameters' must be an object"),
    ('{"parameters": {"acaAppName": "x"}}', "parameter 'acaAppName' must be an object with a"),
    ('{"parameters": {"acaAppName": {"val": 1}}}', "parameter 'acaAppName' must be an object"),
    ('{"parameters": ', "invalid JSON at line 1 column 16"),
])
def test_malformed_parameters_file_names_the_parameter(project, content, expected):
    path = project / "infra" / "provision" / "inference.parameters.json"
    path.write_text(content)
    with pytest.raises(AzCLIError, match=expected.replace("(", r"\(")) as info:
        Workspace(project).read_parameters()
    assert "inference.parameters.json" in str(info.value)


def test_parameters_file_values_and_key_vault_references_are_read(project):
    path = project / "infra" / "provision" / "inference.parameters.json"
    path.write_text(json.dumps({"parameters": {
        "acaAppName": {"value": None},
        "apiKey": {"reference": {"keyVault": {"id": "/x"}, "secretName": "k"}}}}))
    params = Workspace(project).read_parameters()
    assert params["acaAppName"] == {"value": None} and "reference" in params["apiKey"]


def test_finetuning_config_is_optional_and_validated(project):
    assert Workspace(project).read_finetuning_config() is None
    path = project / "infra" / "finetuning.config.json"
    path.write_text(json.dumps({"RESOURCE_GROUP_NAME": ["rg"]}))
    with pytest.raises(AzCLIError, match="finetuning.config.json: key 'RESOURCE_GROUP_NAME' must"):
        Workspace(project).read_finetuning_config()
