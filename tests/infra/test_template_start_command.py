"""The container's start command (defaultCommands joined with "; ", run by /bin/bash -c).

The share is mounted at /mount in the container; here a temporary folder stands in for it, the
way the local cloud runs a revision. tests/deploy/test_bootstrap.py runs it on a real deploy.
"""
import shutil
import subprocess
import sys

import pytest

from azext_aitkinfer import codeversions

NOT_DEPLOYED = "aitk-infer: no code deployed yet: run 'az aitk-infer deploy'"


@pytest.fixture
def share(tmp_path):
    root = tmp_path / "share"
    root.mkdir()
    return root


@pytest.fixture
def run_start_command(parameters_file, share, tmp_path):
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "sleep").write_text("#!/bin/sh\nexit 0\n")  # keeps the failure path quick
    (stubs / "sleep").chmod(0o755)
    (stubs / "python3").symlink_to(sys.executable)
    statements = parameters_file["parameters"]["defaultCommands"]["value"]
    command = "; ".join(statements).replace("/mount", str(share))
    (tmp_path / "replica-tmp").mkdir()

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["/bin/bash", "-c", command], capture_output=True, text=True, timeout=60,
            env={"PATH": f"{stubs}:/usr/bin:/bin", "TMPDIR": str(tmp_path / "replica-tmp"),
                 "AITK_BOOTSTRAP_PAUSE_S": "0"})

    return run


def test_without_bootstrap_it_says_to_deploy_and_exits_1(run_start_command):
    result = run_start_command()
    assert (result.returncode, result.stdout.strip()) == (1, NOT_DEPLOYED)


def test_with_bootstrap_but_no_version_it_says_to_deploy_and_exits_1(run_start_command, share):
    (share / "aitk-infer").mkdir()
    shutil.copyfile(codeversions._BOOTSTRAP_SOURCE, share / "aitk-infer" / "bootstrap.py")
    result = run_start_command()
    assert result.returncode == 1 and NOT_DEPLOYED in result.stdout
