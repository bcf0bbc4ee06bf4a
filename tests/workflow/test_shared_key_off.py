"""A storage account that refuses shared keys (allowSharedKeyAccess: false, common under enterprise
policy): deploy reaches the share with the az login's token and Azure Files' backup intent, and when
the login lacks the data role it says which, with the command that grants it."""
import shlex

from localcloud.testing import error_lines

ROLE = "Storage File Data Privileged Contributor"


def test_deploy_with_shared_keys_off_names_the_missing_role_then_works_once_it_is_granted(cloud, new_project):
    new_project.az("aitk-infer", "provision", "-g", "rg-nokey", "-l", "westus3", "--yes", "-o", "none")
    account = new_project.config["STORAGE_ACCOUNT_NAME"]
    cloud.az("resource", "update", "-g", "rg-nokey", "-n", account, "--resource-type",
             "Microsoft.Storage/storageAccounts", "--api-version", "2025-01-01", "--set",
             "properties.allowSharedKeyAccess=false", "-o", "none")

    refused = new_project.az("aitk-infer", "deploy", "--no-restart", check=False)
    lines = error_lines(refused.stderr)
    assert refused.returncode != 0 and len(lines) == 1, refused.stderr
    assert f"needs the role '{ROLE}'" in lines[0] and "rotated" not in lines[0]
    fix = lines[0].split("Fix: ", 1)[1]
    assert fix.startswith(f'az role assignment create --role "{ROLE}" --assignee-object-id ')

    command = shlex.split(fix)
    assert command[0] == "az"
    cloud.az(*command[1:], "-o", "none")  # the printed command, as the user would paste it
    summary = new_project.az_json("aitk-infer", "deploy", "--no-restart")
    assert summary["code"]["uploaded"] > 0 and summary["restarted"] is False
