"""The local cloud (ARM, Azure Files, the app's replica) stopped in the middle of a deploy's upload
and started again: the share keeps a whole version active throughout, the interrupted az ends
(done or one clear line), and the next deploy converges: the new version is active and served."""
import json
import os
import shutil
import ssl
import subprocess

import httpx

from localcloud.testing import AZ, error_lines, run_localcloud, wait_until
from tests.hardening.share_state import active_version, share_folder

RANGES = "files:write:PUT range"
PADDING_BYTES = 24 * 2**20  # six 4 MiB ranges: an upload long enough to stop in the middle of


def uploaded_ranges(cloud) -> int:
    return cloud.control("GET", "stats").json()["operations"].get(RANGES, {}).get("count", 0)


def test_cloud_stopped_mid_deploy_and_started_again_then_the_next_deploy_converges(cloud, secured_app, tmp_path):
    project = secured_app.project
    source = shutil.copytree(project.root / "inference_src", tmp_path / "source",
                             ignore=shutil.ignore_patterns("__pycache__"))
    (source / "aitk_serve" / "padding.bin").write_bytes(os.urandom(PADDING_BYTES))
    share = share_folder(cloud, project.config)
    before = uploaded_ranges(cloud)
    # Throttle half the writes (Retry-After: 1 s) so the stop lands while ranges are still going up.
    cloud.control("POST", "faults", {"faults": [{"kind": "files:write", "share": 0.5, "response": 429}]})
    interrupted = subprocess.Popen([str(AZ), "aitk-infer", "deploy", "--source", str(source), "--no-restart",
                                    "-o", "json"], cwd=project.root, env=cloud.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    try:
        try:
            wait_until(lambda: uploaded_ranges(cloud) > before, timeout=120, interval=0.05, what="the upload")
        except AssertionError:
            cloud.control("POST", "faults", {})  # the cloud keeps running for the other tests: no throttle
            raise
        assert run_localcloud("stop", cloud.state).returncode == 0
        active_version(share)  # whole: the old version, or the new one if the pointer flipped already
        started = run_localcloud("start", cloud.state)  # with no faults: they lived in the stopped process
        assert started.returncode == 0, started.stderr
        _, stderr = interrupted.communicate(timeout=240)
    finally:
        if interrupted.poll() is None:
            interrupted.kill()
            interrupted.communicate()
    assert "Traceback" not in stderr
    assert interrupted.returncode == 0 or len(error_lines(stderr)) == 1, stderr

    summary = secured_app.az("aitk-infer", "deploy", "--source", str(source), "--timeout", "240", "-o", "json")
    version = json.loads(summary.stdout)["code"]["version"]
    assert active_version(share) == version
    endpoint = "https://" + project.config["ACA_APP_ENDPOINT"]
    health = httpx.get(f"{endpoint}/health", verify=ssl.create_default_context(cafile=cloud.ca), timeout=30)
    assert health.json()["version"] == version
