"""Lease Share through the real azure-storage-file-share SDK: what Azure answers in each lease state
and what a lease blocks (localcloud/README.md, "Share leases")."""

import time
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.storage.fileshare import ShareLeaseClient

pytest_plugins = ["localcloud.tests.files_fixtures"]  # the files_server and share fixtures


def later(files_server, monkeypatch, seconds):
    """Move the share store's wall clock on, as if `seconds` had passed."""
    monkeypatch.setattr(files_server.store, "clock", lambda: time.time() + seconds)


def lease_of(share):
    return share.get_share_properties().lease


def test_a_held_share_lease_refuses_a_second_acquire_with_lease_already_present(share):
    first = share.acquire_lease(lease_duration=15)
    with pytest.raises(ResourceExistsError) as conflict:
        share.acquire_lease(lease_duration=15)
    assert conflict.value.status_code == 409
    assert conflict.value.error_code == "LeaseAlreadyPresent"
    again = share.acquire_lease(lease_id=first.id, lease_duration=30)  # the holder may acquire again
    assert again.id == first.id
    props = lease_of(share)
    assert (props.state, props.status, props.duration) == ("leased", "locked", "fixed")
    first.release()


def test_renew_keeps_the_lease_and_release_frees_the_share_at_once(share):
    lease = share.acquire_lease(lease_duration=15)
    lease.renew()
    stranger = ShareLeaseClient(share, lease_id=str(uuid.uuid4()))
    with pytest.raises(HttpResponseError) as wrong:
        stranger.renew()
    assert (wrong.value.status_code, wrong.value.error_code) == (409, "LeaseIdMismatchWithLeaseOperation")
    with pytest.raises(HttpResponseError) as wrong_release:
        stranger.release()
    assert wrong_release.value.error_code == "LeaseIdMismatchWithLeaseOperation"
    lease.release()
    assert (lease_of(share).state, lease_of(share).status) == ("available", "unlocked")
    share.acquire_lease(lease_duration=15).release()


def test_a_fixed_lease_expires_by_itself_and_stays_renewable_until_someone_else_leases(
        files_server, share, monkeypatch):
    lease = share.acquire_lease(lease_duration=15)
    later(files_server, monkeypatch, 16)
    assert (lease_of(share).state, lease_of(share).status) == ("expired", "unlocked")
    lease.renew()  # nobody leased it since: the holder gets it back
    assert lease_of(share).state == "leased"
    later(files_server, monkeypatch, 40)
    other = share.acquire_lease(lease_duration=15)  # expired: anyone may take it
    with pytest.raises(HttpResponseError) as lost:
        lease.renew()
    assert lost.value.error_code == "LeaseIdMismatchWithLeaseOperation"
    other.release()


def test_break_ends_a_lease_after_its_period_and_it_cannot_be_renewed(files_server, share, monkeypatch):
    lease = share.acquire_lease()  # infinite
    assert lease_of(share).duration == "infinite"
    assert lease.break_lease(lease_break_period=10) == 10
    assert (lease_of(share).state, lease_of(share).status) == ("breaking", "locked")
    with pytest.raises(ResourceExistsError) as breaking:
        share.acquire_lease(lease_duration=15)
    assert breaking.value.error_code == "LeaseAlreadyPresent"
    later(files_server, monkeypatch, 11)
    assert (lease_of(share).state, lease_of(share).status) == ("broken", "unlocked")
    with pytest.raises(HttpResponseError) as broken:
        lease.renew()
    assert broken.value.error_code == "LeaseIsBrokenAndCannotBeRenewed"
    last = share.acquire_lease(lease_duration=15)
    assert last.break_lease(lease_break_period=0) == 0
    assert lease_of(share).state == "broken"
    last.release()  # a broken lease may still be released by its holder


def test_lease_requests_azure_refuses_are_refused(share):
    with pytest.raises(HttpResponseError) as duration:
        share.acquire_lease(lease_duration=10)
    assert (duration.value.status_code, duration.value.error_code) == (400, "InvalidHeaderValue")
    with pytest.raises(HttpResponseError) as nothing_to_break:
        ShareLeaseClient(share).break_lease()
    assert (nothing_to_break.value.status_code, nothing_to_break.value.error_code) == (
        409, "LeaseNotPresentWithLeaseOperation")
    with pytest.raises(HttpResponseError) as nothing_to_change:
        ShareLeaseClient(share).change(proposed_lease_id=str(uuid.uuid4()))
    assert nothing_to_change.value.error_code == "LeaseNotPresentWithLeaseOperation"


def test_change_gives_the_lease_a_new_id_and_the_old_one_stops_working(share):
    lease = share.acquire_lease(lease_duration=15)
    old_id, new_id = lease.id, str(uuid.uuid4())
    lease.change(proposed_lease_id=new_id)
    assert lease.id == new_id
    with pytest.raises(HttpResponseError) as stale:
        ShareLeaseClient(share, lease_id=old_id).release()
    assert stale.value.error_code == "LeaseIdMismatchWithLeaseOperation"
    lease.release()


def test_a_leased_share_cannot_be_deleted_or_changed_without_its_lease_id(service):
    share = service.get_share_client(f"t{uuid.uuid4().hex[:12]}")
    share.create_share()
    lease = share.acquire_lease(lease_duration=15)
    for attempt in (share.delete_share, lambda: share.set_share_metadata({"a": "b"}),
                    lambda: share.set_share_quota(3)):
        with pytest.raises(HttpResponseError) as refused:
            attempt()
        assert (refused.value.status_code, refused.value.error_code) == (412, "LeaseIdMissing")
    with pytest.raises(HttpResponseError) as other:
        share.delete_share(lease=str(uuid.uuid4()))
    assert (other.value.status_code, other.value.error_code) == (412, "LeaseIdMismatchWithContainerOperation")
    share.get_directory_client().get_file_client("f.txt").upload_file(b"files are not locked")
    share.set_share_metadata({"a": "b"}, lease=lease)
    share.delete_share(lease=lease)
