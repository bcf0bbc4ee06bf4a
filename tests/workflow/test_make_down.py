"""`make down` stops every process the demo started and leaves no listening port."""
import json
import socket
import subprocess

import psutil

from localcloud.testing import start_cloud
from tests.paths import REPO
from tests.workflow.conftest import Project, init_project


def _listening(port):
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _processes_under(state):
    """Processes whose command line or working folder lies in the state folder."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["cwd"] or "")
        if str(state) in text:
            found.append(proc.pid)
    return found


def test_make_down_leaves_no_process_and_no_port(tmp_path):
    state = tmp_path / "demo-state"
    cloud = start_cloud(state)
    cloud.env.setdefault("AZURE_EXTENSION_DIR", str(REPO / ".venv" / "az-extensions"))
    project = Project(cloud, init_project(cloud, tmp_path / "project"))
    project.az("aitk-infer", "provision", "-g", "rg-down", "-l", "westus3", "--yes", "-o", "none")
    ports = [int(cloud.url.rsplit(":", 1)[1]),
             int(json.loads((project.root / "infra/inference.config.json").read_text())
                 ["ACA_APP_ENDPOINT"].rsplit(":", 1)[1])]
    assert all(_listening(port) for port in ports)
    assert _processes_under(state)  # the server and the app's replica

    result = subprocess.run(["make", "down"], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**cloud.env, "AITK_DEMO_STATE": str(state)})
    assert result.returncode == 0, result.stderr
    assert _processes_under(state) == []
    assert not any(_listening(port) for port in ports)
