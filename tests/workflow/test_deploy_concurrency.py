"""Two `az aitk-infer deploy --no-restart` runs started together against one app: they take turns
on the share's deploy lock, both succeed, and the version the pointer names is complete."""
import hashlib
import json
import shutil
import subprocess

from azure.mgmt.storage import StorageManagementClient
from azure.storage.fileshare import ShareClient

from localcloud.testing import wait_until
from tests.paths import REPO

ROUNDS = 2
WAITED = "is running; waiting for it"


def active_version_is_complete(share_root):
    root = share_root / "aitk-infer"
    version = (root / "current").read_text().splitlines()[0]
    files = json.loads((root / "versions" / f"{version}.json").read_text())["files"]
    for relpath, entry in files.items():
        stored = root / "objects" / entry["sha256"]
        assert stored.is_file(), f"{relpath} of the active version {version} is gone"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == entry["sha256"], relpath
    return version, files


def held_share(cloud, config):
    """The app's share as a client of its own (the account key from ARM), to hold its lock."""
    storage = cloud.client(StorageManagementClient)
    key = storage.storage_accounts.list_keys(config["RESOURCE_GROUP_NAME"], config["STORAGE_ACCOUNT_NAME"])
    account = config["STORAGE_ACCOUNT_NAME"]
    return ShareClient(f"{cloud.url}/{account}", config["FILE_SHARE_NAME"], connection_verify=cloud.ca,
                       credential={"account_name": account, "account_key": key.keys_property[0].value})


def test_two_deploys_started_together_take_turns_and_both_succeed(cloud, new_project, tmp_path):
    new_project.az("aitk-infer", "provision", "-g", "rg-two-deploys", "-l", "westus3", "--yes", "-o", "none")
    config = new_project.config
    share_root = cloud.state / "files" / config["STORAGE_ACCOUNT_NAME"] / "shares" / config["FILE_SHARE_NAME"]
    share = held_share(cloud, config)
    for round_number in range(ROUNDS):
        sources = []
        for name in ("a", "b"):
            source = tmp_path / f"round{round_number}-{name}"
            shutil.copytree(new_project.root / "inference_src", source)
            for number in range(40):  # distinct objects: what one deploy's pruning must not touch
                (source / "extra" / f"{name}-{number}.txt").parent.mkdir(exist_ok=True)
                (source / "extra" / f"{name}-{number}.txt").write_text(f"{round_number} {name} {number}\n" * 500)
            sources.append(source)
        # Held by a third party until both have started and found the share taken, so both wait
        # and then go one after the other, whatever the timing of their start.
        lock = share.acquire_lease(lease_duration=60)
        logs = [tmp_path / f"round{round_number}-{name}.stderr" for name in ("a", "b")]
        runs = []
        for source, log in zip(sources, logs, strict=True):
            with log.open("w") as stderr:
                runs.append(subprocess.Popen([str(REPO / ".venv" / "bin" / "az"), "aitk-infer", "deploy",
                                              "--source", str(source), "--no-restart", "-o", "json"],
                                             cwd=new_project.root, env=cloud.env, stdout=subprocess.PIPE,
                                             stderr=stderr, text=True))

        def both_wait(found=logs, held=lock):
            held.renew()  # however long az takes to start here
            return all(WAITED in log.read_text() for log in found)

        try:
            wait_until(both_wait, timeout=240, interval=2, what="both deploys to wait for the share")
        finally:
            lock.release()
        outputs = [run.communicate(timeout=300)[0] for run in runs]
        for run, log in zip(runs, logs, strict=True):
            stderr = log.read_text()
            assert run.returncode == 0, stderr
            assert "Traceback" not in stderr
            assert stderr.count(WAITED) == 1, stderr  # said once, not per poll
        version, files = active_version_is_complete(share_root)
        deployed = [json.loads(out)["code"]["version"] for out in outputs]
        assert version in deployed and len(set(deployed)) == 2
        assert len([f for f in files if f.startswith("extra/")]) == 40
        history = (share_root / "aitk-infer" / "current").read_text().split()
        assert set(history[:2]) == set(deployed)  # one after the other: the first is kept as the previous


def test_a_deploy_keeps_the_share_locked_until_its_restarted_replica_is_ready(served):
    """A second deploy must not switch versions or restart the app while the first still waits for
    /ready: the lock is held from the first write to the end of that wait."""
    config = served.config
    pointer = (served.cloud.state / "files" / config["STORAGE_ACCOUNT_NAME"] / "shares" / config["FILE_SHARE_NAME"]
               / "aitk-infer" / "current")
    before = pointer.read_text()
    replicas = served.cloud.state / "replicas"
    started = set(replicas.iterdir())
    share = held_share(served.cloud, config)
    marker = served.root / "inference_src" / "aitk_serve" / "__init__.py"
    original = marker.read_text()
    marker.write_text(original + "\n# changed by test_deploy_concurrency\n")
    try:
        run = subprocess.Popen([str(REPO / ".venv" / "bin" / "az"), "aitk-infer", "deploy", "--timeout", "240",
                                "-o", "json"], cwd=served.root, env=served.cloud.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # A new replica is the restart: the deploy has written everything and now waits for /ready, which
        # takes the replica tens of seconds (unpacking its environment, loading the model).
        wait_until(lambda: set(replicas.iterdir()) - started or run.poll() is not None, timeout=240, interval=0.2,
                   what="the deploy to restart the app")
        assert run.poll() is None, run.communicate()[1]
        assert pointer.read_text() != before
        assert share.get_share_properties().lease.state == "leased"
        out, err = run.communicate(timeout=300)
    finally:
        marker.write_text(original)
    assert run.returncode == 0 and json.loads(out)["ready"] is True, err
    assert share.get_share_properties().lease.state == "available"  # released at the end
