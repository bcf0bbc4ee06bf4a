"""The share's deploy lock (deploy_lock.py) against localcloud's Azure Files: one deploy at a time,
a waiting deploy says so once, gives up with one line, and a killed holder frees the share."""
import logging
import signal
import subprocess
import sys
import threading

import pytest
from azure.cli.core.azclierror import AzureResponseError
from azure.storage.fileshare import ShareLeaseClient

from azext_aitkinfer.codeversions import deploy_code, read_history, rollback
from azext_aitkinfer.deploy_lock import LEASE_S, deploy_lock
from localcloud.testing import wait_until
from tests.deploy.conftest import ACCOUNT

WAITED = "is running; waiting for it"

HOLDER = """
import sys, time
from azure.storage.fileshare import ShareClient
from azext_aitkinfer._client_factory import retry_policy
from azext_aitkinfer.deploy_lock import deploy_lock
url, share, key, ca = sys.argv[1:]
client = ShareClient(url, share, credential={"account_name": url.rsplit("/", 1)[1], "account_key": key},
                     connection_verify=ca, retry_policy=retry_policy())
with deploy_lock(client, wait_s=60):
    print("locked", flush=True)
    time.sleep(600)
"""


def waits_logged(caplog):
    return [r for r in caplog.records if WAITED in r.getMessage()]


def test_a_second_deploy_waits_for_the_first_says_so_once_and_then_runs(files_cloud, share, caplog):
    caplog.set_level(logging.WARNING)
    order, first_in, second_asked = [], threading.Event(), threading.Event()

    def first():
        with deploy_lock(files_cloud.share_client(share.share_name), wait_s=60):
            first_in.set()
            second_asked.wait(60)
            order.append("first done")

    runner = threading.Thread(target=first)
    runner.start()
    first_in.wait(60)
    def release_once_the_second_waits():
        wait_until(lambda: waits_logged(caplog), timeout=60, what="the second deploy to wait")
        second_asked.set()

    watcher = threading.Thread(target=release_once_the_second_waits)
    watcher.start()
    with deploy_lock(share, wait_s=60):
        order.append("second in")
    runner.join()
    watcher.join()
    assert order == ["first done", "second in"]
    assert len(waits_logged(caplog)) == 1
    assert f"share '{share.share_name}'" in waits_logged(caplog)[0].getMessage()


def test_a_deploy_that_cannot_get_the_share_in_time_fails_with_one_line_naming_it(files_cloud, share):
    with deploy_lock(files_cloud.share_client(share.share_name), wait_s=60):
        with pytest.raises(AzureResponseError) as refused:
            with deploy_lock(share, wait_s=4):
                pytest.fail("the lock was held by another deploy")
    message = str(refused.value)
    assert "\n" not in message
    assert f"share '{share.share_name}': another deploy still holds it after 4 s" in message
    assert "Fix:" in message and "--timeout" in message


def test_a_deploy_killed_while_holding_the_lock_does_not_block_the_next_beyond_the_lease(
        files_cloud, share, source_tree):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, f"{files_cloud.url}/{ACCOUNT}", share.share_name,
                               files_cloud.key, str(files_cloud.ca_file)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
    finally:
        holder.send_signal(signal.SIGKILL)  # no release: the lease has to run out by itself
        holder.wait(30)
    assert share.get_share_properties().lease.state == "leased"
    with deploy_lock(share, wait_s=LEASE_S + 15) as lock:  # fails unless the dead holder's lease ends
        version = deploy_code(share, source_tree, still_locked=lock.ensure_held)["version"]
    assert read_history(share) == [version]
    assert share.get_share_properties().lease.state == "available"  # released on the way out


def test_a_deploy_that_lost_its_lock_stops_before_switching_versions(files_cloud, share, source_tree):
    first = deploy_code(share, source_tree)["version"]
    (source_tree / "app" / "main.py").write_text("print('second')\n")
    with pytest.raises(AzureResponseError, match="lost its lock on the share") as lost:
        with deploy_lock(share, wait_s=10) as lock:
            ShareLeaseClient(files_cloud.share_client(share.share_name)).break_lease(lease_break_period=0)
            deploy_code(share, source_tree, still_locked=lock.ensure_held)
    assert "\n" not in str(lost.value)
    assert read_history(share) == [first]


def test_an_error_inside_the_lock_releases_the_share(share):
    with pytest.raises(RuntimeError):
        with deploy_lock(share, wait_s=10):
            raise RuntimeError("upload failed")
    assert share.get_share_properties().lease.state == "available"


def test_a_share_locked_forever_by_another_tool_is_named_at_once(files_cloud, share):
    foreign = files_cloud.share_client(share.share_name).acquire_lease()  # infinite
    try:
        with pytest.raises(AzureResponseError, match="has an infinite lease, which no deploy takes"):
            with deploy_lock(share, wait_s=600):
                pytest.fail("the share was locked")
    finally:
        foreign.release()


def test_a_rollback_that_lost_its_lock_leaves_the_active_version(files_cloud, share, source_tree):
    first = deploy_code(share, source_tree)["version"]
    (source_tree / "app" / "main.py").write_text("print('second')\n")
    second = deploy_code(share, source_tree)["version"]
    with pytest.raises(AzureResponseError, match="lost its lock on the share"):
        with deploy_lock(share, wait_s=10) as lock:
            ShareLeaseClient(files_cloud.share_client(share.share_name)).break_lease(lease_break_period=0)
            rollback(share, still_locked=lock.ensure_held)
    assert read_history(share) == [second, first]
    with deploy_lock(share, wait_s=10) as lock:
        assert rollback(share, still_locked=lock.ensure_held) == {"version": first, "replaced": second}
