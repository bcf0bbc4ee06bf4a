"""Deploys that are killed (SIGKILL) part-way, and deploys through a faulty network."""
import hashlib
import os
import random
import signal
import subprocess
import sys
import time

from azext_aitkinfer.codeversions import deploy_code, read_history
from azext_aitkinfer.folder_mirror import sync_folder
from tests.deploy.conftest import ACCOUNT, settled, write_tree

KILL_TRIALS = 10
CHILD_TIMEOUT_S = 60
RUN_TIMEOUT_S = 30
FAULT_COUNT = 1000  # "count" of each injected fault: what is left shows that they fired

CHILD = """
import sys
from azure.storage.fileshare import ShareClient
from azext_aitkinfer.codeversions import deploy_code
from azext_aitkinfer._client_factory import retry_policy
url, share, key, ca, source = sys.argv[1:]
client = ShareClient(url, share, credential={"account_name": url.rsplit("/", 1)[1], "account_key": key},
                     connection_verify=ca, retry_policy=retry_policy())
deploy_code(client, source)
print("deployed", flush=True)
"""


def tree_of(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def restart_replica(code_root, tmp):
    """What a replica starting now runs: the real bootstrap, then the tree it materialized."""
    tmp.mkdir()
    result = subprocess.run([sys.executable, "bootstrap.py"], cwd=code_root, capture_output=True, text=True,
                            env={**os.environ, "TMPDIR": str(tmp)}, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    version = result.stdout.splitlines()[0].rsplit(" ", 1)[1]
    return tree_of(tmp / "aitk-infer" / version)


def change(source, trial):
    write_tree(source, {"app/main.py": f"print({trial})\n", f"app/data_{trial}.bin": os.urandom(400_000)})


def kill_after_requests(process, stats, baseline, requests):
    """SIGKILL the deploy once the server has seen `requests` more requests (or let it finish)."""
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        if stats.snapshot()["requests"] - baseline >= requests:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    process.wait(timeout=CHILD_TIMEOUT_S)


def test_killed_deploys_leave_the_old_or_new_version_whole_and_the_next_deploy_completes(
        files_cloud, share, source_tree, tmp_path):
    code_root = files_cloud.share_folder(share.share_name) / "aitk-infer"
    deploy_code(share, source_tree)
    change(source_tree, "reference")
    files_cloud.stats.reset()
    deploy_code(share, source_tree)
    full_deploy_requests = settled(files_cloud.stats)["requests"]
    rng = random.Random(5)
    outcomes = []
    for trial in range(KILL_TRIALS):
        old = tree_of(source_tree)
        change(source_tree, trial)
        new = tree_of(source_tree)
        baseline = settled(files_cloud.stats)["requests"]
        args = [f"{files_cloud.url}/{ACCOUNT}", share.share_name, files_cloud.key, str(files_cloud.ca_file),
                str(source_tree)]
        child = subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        try:
            kill_after_requests(child, files_cloud.stats, baseline, rng.randint(1, full_deploy_requests))
        finally:
            if child.poll() is None:
                child.kill()
            child.communicate(timeout=CHILD_TIMEOUT_S)
        running = restart_replica(code_root, tmp_path / f"killed-{trial}")
        assert running in (old, new)
        outcomes.append("new" if running == new else "old")
        deploy_code(share, source_tree)
        assert restart_replica(code_root, tmp_path / f"after-{trial}") == new
    assert "old" in outcomes  # the kills did land before the pointer flip


def test_deploy_and_model_sync_complete_with_ten_percent_of_requests_faulted(files_cloud, share, source_tree,
                                                                              tmp_path):
    model = write_tree(tmp_path / "model", {"config.json": "{}", "model.safetensors": os.urandom(9_000_000)})
    files_cloud.faults.configure({"faults": [
        {"kind": "files", "share": 0.034, "response": 429, "retryAfter": 0, "count": FAULT_COUNT},
        {"kind": "files", "share": 0.033, "response": 503, "retryAfter": 0, "count": FAULT_COUNT},
        {"kind": "files", "share": 0.033, "response": "cut", "count": FAULT_COUNT}]})
    deploy_code(share, source_tree)
    change(source_tree, "faulty")
    version = deploy_code(share, source_tree)["version"]
    sync_folder(share, model, "models/base", download_check=True)
    fired = [FAULT_COUNT - fault["remaining"] for fault in files_cloud.faults.describe()["faults"]]
    files_cloud.faults.configure(None)
    assert all(count > 0 for count in fired), fired
    assert read_history(share)[0] == version
    assert restart_replica(files_cloud.share_folder(share.share_name) / "aitk-infer", tmp_path / "r") == \
        tree_of(source_tree)
    synced = files_cloud.share_folder(share.share_name) / "models" / "base"
    assert {k: v for k, v in tree_of(synced).items() if k != ".aitk-manifest.json"} == tree_of(model)
