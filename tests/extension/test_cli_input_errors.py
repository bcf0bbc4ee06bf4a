"""Bad local input through the real az: one error line naming the flag or file and the fix, no
traceback, nothing changed."""
import json
import os
import re

import pytest

from localcloud.testing import error_lines, run_az
from tests.extension.test_cli import CONFIG

# A folder nobody can write, root included (tests may run as root, which chmod does not stop).
UNWRITABLE = "/sys/fs"


def one_error(result):
    lines = error_lines(result.stderr)
    assert result.returncode != 0 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def provisioned(tmp_path):
    assert run_az("aitk-infer", "init", "-w", str(tmp_path)).returncode == 0
    (tmp_path / "infra" / "inference.config.json").write_text(json.dumps(CONFIG))
    return tmp_path


UNKNOWN_HOME = [
    ("init", ["init", "--workspace", "~nosuchuser1/project"], "--workspace"),
    ("show-endpoint", ["show-endpoint", "--workspace", "~nosuchuser1/project"], "--workspace"),
    ("logs", ["logs", "--workspace", "~nosuchuser1/project"], "--workspace"),
    ("provision", ["provision", "--workspace", "~nosuchuser1/project"], "--workspace"),
    ("provision-parameters", ["provision", "--parameters", "@~nosuchuser1/p.json"], "--parameters"),
    ("deploy-workspace", ["deploy", "--workspace", "~nosuchuser1/project"], "--workspace"),
    ("deploy-source", ["deploy", "--source", "~nosuchuser1/src"], "--source"),
    ("deploy-adapter", ["deploy", "--adapter-dir", "~nosuchuser1/adapter"], "--adapter-dir"),
    ("deploy-base-model", ["deploy", "--base-model-dir", "~nosuchuser1/base"], "--base-model-dir"),
]


@pytest.mark.parametrize("case,args,flag", UNKNOWN_HOME, ids=[c[0] for c in UNKNOWN_HOME])
def test_unknown_user_home_in_a_path_flag_is_one_error_line(provisioned, case, args, flag):
    line = one_error(run_az("aitk-infer", *args, cwd=provisioned))
    assert flag in line and "~nosuchuser1" in line and "Fix:" in line


def test_endpoint_of_only_spaces_is_the_missing_endpoint_error(provisioned):
    (provisioned / "infra" / "inference.config.json").write_text(
        json.dumps({**CONFIG, "ACA_APP_ENDPOINT": "   "}))
    line = one_error(run_az("aitk-infer", "show-endpoint", cwd=provisioned))
    assert "ACA_APP_ENDPOINT missing or empty" in line


def test_provision_in_a_read_only_project_fails_before_any_azure_call(tmp_path):
    """The offline az has no login: reaching Azure would fail differently."""
    os.symlink(UNWRITABLE, tmp_path / "infra")
    line = one_error(run_az("aitk-infer", "provision", "-g", "rg", "-l", "westus3", "--yes",
                            cwd=tmp_path))
    assert "infra: cannot write inference.config.json there" in line and "Fix:" in line


def test_init_into_a_read_only_folder_is_one_error_line(tmp_path):
    line = one_error(run_az("aitk-infer", "init", "--workspace", f"{UNWRITABLE}/project"))
    assert "cannot be written" in line and "Fix:" in line


@pytest.mark.parametrize("command,flag", [("deploy", "--timeout"), ("logs", "--tail"), ("init", "--workspace")])
def test_help_states_a_flags_default_once(command, flag):
    result = run_az("aitk-infer", command, "-h")
    entry = re.search(rf"\n\s+{flag}\b.*?(?=\n\s+--|\n\n)", result.stdout, re.S)
    assert entry, result.stdout
    assert " ".join(entry.group().split()).count("Default:") == 1, entry.group()


OTHER_SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize("args", [["deploy", "--no-restart"], ["logs"], ["show-endpoint", "--live"]],
                         ids=["deploy", "logs", "show-endpoint-live"])
def test_a_subscription_other_than_the_configs_stops_the_command(provisioned, args):
    result = run_az("aitk-infer", *args, "--subscription", OTHER_SUBSCRIPTION, cwd=provisioned)
    errors = [line for line in error_lines(result.stderr) if line.startswith("ERROR")]
    assert result.returncode != 0 and len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    line = errors[0]  # az itself adds a WARNING that it does not know the subscription
    assert OTHER_SUBSCRIPTION in line and CONFIG["SUBSCRIPTION_ID"] in line and "Fix:" in line
