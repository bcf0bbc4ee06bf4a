"""The extension through the real az binary, installed from the wheel by `make test`."""
import json

import pytest

from localcloud.testing import error_lines, run_az
from tests.paths import REPO

CONFIG = {"SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001",
          "RESOURCE_GROUP_NAME": "my-finetune-rg", "STORAGE_ACCOUNT_NAME": "aistorage12345",
          "FILE_SHARE_NAME": "aifileshare12345", "ACA_APP_NAME": "aiacaapp12345",
          "ACA_APP_ENDPOINT": "aiacaapp12345.nicebeach-1234.westus3.azurecontainerapps.io"}
URL = f"https://{CONFIG['ACA_APP_ENDPOINT']}"


@pytest.fixture
def provisioned(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "inference.config.json").write_text(json.dumps(CONFIG))
    return tmp_path


def test_group_help_lists_the_commands():
    result = run_az("aitk-infer", "-h")
    assert result.returncode == 0, result.stderr
    for command in ("init", "show-endpoint"):
        assert f"    {command} " in result.stdout


def test_extension_is_installed_from_the_wheel_as_aitk_infer():
    result = run_az("extension", "show", "--name", "aitk-infer", "-o", "json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["version"] == _setup_version()
    assert info["metadata"]["azext.isPreview"] is True


def _setup_version():
    for line in (REPO / "setup.py").read_text().splitlines():
        if line.startswith("VERSION = "):
            return line.split('"')[1]
    raise AssertionError("no VERSION in setup.py")


def test_show_endpoint_json(provisioned):
    result = run_az("aitk-infer", "show-endpoint", "-o", "json", cwd=provisioned)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"endpoint": URL, "app": CONFIG["ACA_APP_NAME"],
                                         "resourceGroup": CONFIG["RESOURCE_GROUP_NAME"],
                                         "subscription": CONFIG["SUBSCRIPTION_ID"]}


def test_show_endpoint_tsv_query_prints_just_the_url(provisioned):
    result = run_az("aitk-infer", "show-endpoint", "-o", "tsv", "--query", "endpoint",
                    cwd=provisioned)
    assert result.returncode == 0, result.stderr
    assert result.stdout == URL + "\n"


def test_show_endpoint_table(provisioned):
    result = run_az("aitk-infer", "show-endpoint", "-o", "table", "--workspace",
                    str(provisioned))
    assert result.returncode == 0, result.stderr
    header, rule, row = result.stdout.splitlines()
    assert header.split() == ["App", "Endpoint", "ResourceGroup", "Subscription"]
    assert row.split() == [CONFIG["ACA_APP_NAME"], URL, CONFIG["RESOURCE_GROUP_NAME"],
                           CONFIG["SUBSCRIPTION_ID"]]


@pytest.mark.parametrize("value", ["https://app.example.io", "https://app.example.io/"])
def test_an_endpoint_that_already_has_a_scheme_is_not_doubled(provisioned, value):
    (provisioned / "infra" / "inference.config.json").write_text(
        json.dumps({**CONFIG, "ACA_APP_ENDPOINT": value}))
    result = run_az("aitk-infer", "show-endpoint", "--query", "endpoint", "-o", "tsv",
                    cwd=provisioned)
    assert result.stdout == "https://app.example.io\n", result.stderr


def test_init_scaffolds_a_workspace_the_other_commands_accept(tmp_path):
    target = tmp_path / "project"
    result = run_az("aitk-infer", "init", "--workspace", str(target))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for rel in ("infra/provision/inference.bicep", "infra/provision/inference.json",
                "infra/provision/inference.parameters.json", "inference_src/requirements.txt",
                "inference_src/launch.sh"):
        assert rel in summary["created"]
        assert (target / rel).read_bytes() == (REPO / rel).read_bytes()
    assert not any("__pycache__" in p for p in summary["created"])
    # The scaffold is a project: show-endpoint finds it and asks for provisioning, not for init.
    shown = run_az("aitk-infer", "show-endpoint", cwd=target / "inference_src")
    lines = error_lines(shown.stderr)
    assert shown.returncode != 0 and len(lines) == 1
    assert "inference.config.json: file not found. Fix: run 'az aitk-infer provision'" in lines[0]


def test_init_never_overwrites_without_force(tmp_path):
    assert run_az("aitk-infer", "init", "-w", str(tmp_path)).returncode == 0
    edited = tmp_path / "infra" / "provision" / "inference.parameters.json"
    edited.write_text('{"parameters": {}}')
    (tmp_path / "inference_src" / "requirements.txt").unlink()

    refused = run_az("aitk-infer", "init", "-w", str(tmp_path))
    lines = error_lines(refused.stderr)
    assert refused.returncode != 0 and len(lines) == 1
    assert "1 file(s) already exist with other content" in lines[0] and "--force" in lines[0]
    assert edited.read_text() == '{"parameters": {}}'
    assert not (tmp_path / "inference_src" / "requirements.txt").exists()

    forced = run_az("aitk-infer", "init", "-w", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    summary = json.loads(forced.stdout)
    assert summary["overwritten"] == ["infra/provision/inference.parameters.json"]
    assert summary["created"] == ["inference_src/requirements.txt"]
