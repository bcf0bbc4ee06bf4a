"""The container's first start on the local cloud, which runs a replica as Azure Container Apps does
(the image's stand-in interpreter, never .venv; PID 1; its own temporary folder): a start of the shared
app that finds the packed environment on its share unpacks it, without pip. (The first start that
builds it: test_first_start_own_apps.py.)"""
from tests.workflow.conftest import INSTALLING, UNPACKED, last_start


def test_a_later_start_unpacks_the_packed_environment_without_pip(served):
    summary = served.az_json("aitk-infer", "deploy", "--timeout", "600")  # same code: a restart
    assert summary["ready"] is True
    later = last_start(served.az("aitk-infer", "logs", "--tail", "100").stdout)
    assert UNPACKED in later and INSTALLING not in later
