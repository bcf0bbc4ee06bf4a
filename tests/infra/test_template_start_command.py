"""The container's start command (defaultCommands joined with "; ", run by /bin/bash -c).

The share is mounted at /mount in the container; here a temporary folder stands in for it,
the way the local cloud runs a revision. A stub `sleep` keeps the failure path quick.
"""

import subprocess

import pytest

NOT_DEPLOYED = "aitk-infer: no code deployed yet: run 'az aitk-infer deploy'"


@pytest.fixture
def share(tmp_path):
    root = tmp_path / "share"
    (root / "aitk-infer" / "versions").mkdir(parents=True)
    return root


@pytest.fixture
def run_start_command(parameters_file, share, tmp_path):
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "sleep").write_text("#!/bin/sh\nexit 0\n")
    (stubs / "sleep").chmod(0o755)
    statements = parameters_file["parameters"]["defaultCommands"]["value"]
    command = "; ".join(statements).replace("/mount", str(share))

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["/bin/bash", "-c", command], capture_output=True, text=True, timeout=30,
            env={"PATH": f"{stubs}:/usr/bin:/bin"},
        )

    return run


def _deploy(share, version: str, launch: str = "pwd\nexit 7\n") -> None:
    folder = share / "aitk-infer" / "versions" / version
    folder.mkdir()
    (folder / "launch.sh").write_text(launch)
    (share / "aitk-infer" / "current").write_text(version + "\n")


def test_without_a_pointer_it_says_to_deploy_and_exits_1(run_start_command):
    result = run_start_command()
    assert (result.returncode, result.stdout.strip()) == (1, NOT_DEPLOYED)


def test_with_a_pointer_to_a_missing_version_it_says_to_deploy_and_exits_1(run_start_command, share):
    (share / "aitk-infer" / "current").write_text("v-missing\n")
    result = run_start_command()
    assert (result.returncode, result.stdout.strip()) == (1, NOT_DEPLOYED)


@pytest.mark.parametrize("pointer", ["../", "..", ".", "../../aitk-infer"])
def test_a_pointer_cannot_lead_outside_the_versions_folder(run_start_command, share, pointer):
    (share / "aitk-infer" / "launch.sh").write_text("echo escaped\n")
    (share / "aitk-infer" / "current").write_text(pointer + "\n")
    result = run_start_command()
    assert (result.returncode, result.stdout.strip()) == (1, NOT_DEPLOYED)


def test_it_runs_the_pointed_versions_launch_script_in_its_folder(run_start_command, share):
    _deploy(share, "20250101-abc123")
    result = run_start_command()
    folder = share / "aitk-infer" / "versions" / "20250101-abc123"
    assert result.returncode == 7
    assert result.stdout.splitlines() == ["aitk-infer: starting version 20250101-abc123", str(folder)]
