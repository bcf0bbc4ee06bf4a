"""First starts of apps of their own on the local cloud (the shared app's: test_first_start.py): two
replicas starting at once on one share build the environment once (pip in one replica, which packs it
to the share; the other waits and unpacks it) and both serve, and an image without torch stops deploy
at once. A module of its own so the parallel run does not queue these behind the shared app."""
import subprocess

from localcloud.testing import error_lines, wait_until
from tests.paths import REPO
from tests.workflow.conftest import (
    FIRST_START_S,
    INSTALLING,
    LAST_START,
    UNPACKED,
    Project,
    init_project,
    keep_environment,
    last_start,
)


def test_an_image_without_torch_stops_deploy_at_once_with_one_line_naming_torch_and_the_parameter(new_project):
    new_project.az("aitk-infer", "provision", "-g", "rg-slim", "-l", "westus3", "--yes", "-o", "none",
                   "--parameters", "containerImage=python:3.11-slim")
    # --timeout far above what the test waits: deploy must stop because the replica said why.
    result = new_project.az("aitk-infer", "deploy", "--timeout", "3600", check=False, timeout=120)
    lines = error_lines(result.stderr)
    assert result.returncode != 0
    assert lines[-1].startswith("ERROR: Version ") and "cannot start: the image python:3.11-slim has no " \
        "torch; the requirements need torch>=2.6. Fix: provision with --parameters containerImage=" in lines[-1]
    assert "Traceback" not in result.stderr and "not ready after" not in result.stderr


def restart_latest(project: Project):
    config = project.config
    app = project.az_json("containerapp", "show", "-g", config["RESOURCE_GROUP_NAME"], "-n", config["ACA_APP_NAME"])
    return subprocess.Popen(
        [str(REPO / ".venv/bin/az"), "containerapp", "revision", "restart", "-g", config["RESOURCE_GROUP_NAME"],
         "-n", config["ACA_APP_NAME"], "--revision", app["properties"]["latestRevisionName"], "-o", "none"],
        env=project.cloud.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def started_log(project: Project, timeout: float) -> str:
    """The replica's log from its last start, once its environment is there (built or unpacked)."""
    def environment_there():
        log = project.az("aitk-infer", "logs", "--tail", "300", check=False).stdout
        if LAST_START in log and ("packed to the share" in last_start(log) or UNPACKED in last_start(log)):
            return last_start(log)
        return None
    return wait_until(environment_there, timeout, interval=3,
                      what=f"{project.config['ACA_APP_NAME']}'s environment")


def ready_log(project: Project, timeout: float) -> str:
    """The replica's log from its last start, once /ready answers 200 through the app's ingress."""
    wait_until(lambda: project.az_json("aitk-infer", "show-endpoint", "--live")["ready"], timeout, interval=3,
               what=f"{project.config['ACA_APP_NAME']} to be ready")
    return last_start(project.az("aitk-infer", "logs", "--tail", "300").stdout)


def test_two_replicas_starting_at_once_on_one_share_build_the_environment_once_and_serve(cloud, models, tmp_path):
    # Two apps in one group mount the group's one share (the template's default names), so their
    # replicas start on one share; both are restarted at the same moment once a version is there.
    # The first start of all: nothing packed on the share, so one replica installs the requirements.
    pair = []
    for name in ("pair-a", "pair-b"):
        project = Project(cloud, init_project(cloud, tmp_path / name), first_start=True)
        project.az("aitk-infer", "provision", "-g", "rg-pair", "-l", "westus3", "--yes", "-o", "none",
                   "--parameters", f"acaAppName={name}")
        pair.append(project)
    assert pair[0].config["FILE_SHARE_NAME"] == pair[1].config["FILE_SHARE_NAME"]
    pair[0].az("aitk-infer", "deploy", "--no-restart", "--adapter-dir", str(models / "adapter"),
               "--base-model-dir", str(models / "base"), "-o", "none")
    restarts = [restart_latest(project) for project in pair]
    assert [r.wait(timeout=120) for r in restarts] == [0, 0]
    starts = [started_log(project, FIRST_START_S) for project in pair]
    keep_environment(pair[0])
    assert sum(INSTALLING in start for start in starts) == 1, starts
    assert sum("another replica is building it" in start and UNPACKED in start for start in starts) == 1, starts
    built = next(start for start in starts if INSTALLING in start)
    assert "packed to the share" in built, built
    # Both then serve, the one that waited too, and neither said it was not ready on the way.
    served = [ready_log(project, FIRST_START_S) for project in pair]
    assert all("aitk-infer: not ready" not in log for log in served), served
