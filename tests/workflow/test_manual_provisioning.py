"""The README's manual provisioning path, run exactly as written (the resource group name aside)."""
import re
import subprocess

from tests.paths import REPO


def readme_command():
    section = (REPO / "README.md").read_text().split("## Manual provisioning", 1)[1]
    block = re.search(r"```\n(az deployment group create .*?)\n```", section, re.S).group(1)
    return block.replace("\\\n", " ")


def test_the_readmes_manual_provisioning_command_works_as_written(cloud):
    command = readme_command()
    assert "--template-file infra/provision/inference.json" in command
    assert "--parameters @infra/provision/inference.parameters.json" in command
    cloud.az("group", "create", "-n", "rg-manual", "-l", "westus3", "-o", "none")
    result = subprocess.run(command.replace("my-rg", "rg-manual") + " -o json", shell=True, cwd=REPO,
                            env=cloud.env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"provisioningState": "Succeeded"' in result.stdout
