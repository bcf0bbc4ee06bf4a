"""provision + deploy through the real az while 5%, 10% and 20% of the local cloud's requests
(ARM, Azure Files, token endpoint) answer 429 with Retry-After, 503, or are cut. A run either ends
exactly as a clean run does, or fails with one clear line; the config and the active code version
are never left half-written. (The sync module alone at 10%: tests/deploy/test_deploy_resilience.py.)
The success rate and time overhead per level are measured by bench/faults.py."""
import json

import pytest

from localcloud.testing import error_lines
from tests.hardening.fault_runs import LEVELS, injected_faults, new_project, provision_and_deploy
from tests.hardening.share_state import active_version, mirrors, share_folder


@pytest.fixture(scope="module")
def clean_outcome(cloud, models, tmp_path_factory):
    outcome = provision_and_deploy(new_project(cloud, tmp_path_factory.mktemp("clean") / "p"), models, "rg-clean")
    assert outcome.ok, outcome.stderr
    return outcome


def assert_whole(cloud, project, models, deployed: bool):
    """The config is absent or whole; the share's active version is whole (and the new one when
    the deploy succeeded, with the model folders mirrored)."""
    config_bytes = project.config_bytes()
    if config_bytes is None:
        return
    config = json.loads(config_bytes)  # a torn file would not parse
    share = share_folder(cloud, config)
    version = active_version(share)
    if deployed:
        assert version is not None
        assert mirrors(share, "models/qlora/qlora/gpu_model/adapter", models / "adapter")
        assert mirrors(share, "model-cache/tiny-org/tiny-chat", models / "base")


@pytest.mark.parametrize("level", LEVELS, ids=[f"{int(level * 100)}pct" for level in LEVELS])
def test_faulted_provision_and_deploy_end_as_a_clean_run_or_fail_in_one_line(cloud, models, tmp_path, clean_outcome,
                                                                             level):
    project = new_project(cloud, tmp_path / "project")
    with injected_faults(cloud, level) as faults:
        outcome = provision_and_deploy(project, models, f"rg-faults-{int(level * 100)}")
    assert faults["fired"] > 0
    assert "Traceback" not in outcome.stderr
    assert_whole(cloud, project, models, deployed=outcome.ok)
    if not outcome.ok:
        assert len(outcome.errors) == 1 and outcome.errors[0].startswith("ERROR: "), outcome.stderr
        return
    assert outcome.comparable() == clean_outcome.comparable()
    # A clean rerun finds nothing left to do: the faulted run completed everything.
    config = project.config_bytes()
    again = project.az_json("aitk-infer", "provision")
    assert again["changed"] is False and project.config_bytes() == config
    redeploy = project.az_json("aitk-infer", "deploy", "--adapter-dir", str(models / "adapter"),
                               "--base-model-dir", str(models / "base"), "--no-restart")
    assert redeploy["code"]["uploaded"] == 0 and all(m["uploaded"] == 0 for m in redeploy["models"])


@pytest.mark.parametrize("response", [429, 503, "cut"])
def test_one_failed_token_request_is_retried(cloud, new_project, response):
    cloud.control("POST", "faults", {"faults": [{"kind": "identity", "response": response, "count": 1}]})
    try:
        result = new_project.az("aitk-infer", "provision", "-g", "rg-token-blip", "-l", "westus3", "--yes",
                                check=False)
    finally:
        cloud.control("POST", "faults", {}).raise_for_status()
    assert result.returncode == 0, result.stderr
    assert json.loads(new_project.config_bytes())["RESOURCE_GROUP_NAME"] == "rg-token-blip"


def test_token_endpoint_down_fails_in_one_line_and_writes_nothing(cloud, new_project):
    cloud.control("POST", "faults", {"faults": [{"kind": "identity", "response": "cut"}]}).raise_for_status()
    try:
        result = new_project.az("aitk-infer", "provision", "-g", "rg-token-down", "-l", "westus3", "--yes",
                                check=False)
    finally:
        cloud.control("POST", "faults", {}).raise_for_status()
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [
        "ERROR: Getting an access token failed 4 times (ConnectionError: ('Connection aborted.', "
        "RemoteDisconnected('Remote end closed connection without response'))). Fix: check the network, or "
        "run 'az login' again, then rerun the command"]
    assert new_project.config_bytes() is None
