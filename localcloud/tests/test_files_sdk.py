"""The real azure-storage-file-share SDK against the Azure Files routes over HTTPS."""

import base64
import hashlib
import os
import ssl
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.fileshare import ContentSettings

pytest_plugins = ["localcloud.tests.files_fixtures"]  # the files_server and share fixtures

MIB = 1024 * 1024


def _md5(data: bytes) -> bytearray:
    return bytearray(hashlib.md5(data).digest())


def test_shares_are_created_listed_described_and_deleted(service):
    name = f"s{uuid.uuid4().hex[:10]}"
    service.create_share(name, quota=7, metadata={"purpose": "test"})
    with pytest.raises(ResourceExistsError) as conflict:
        service.create_share(name)
    assert conflict.value.error_code == "ShareAlreadyExists"
    assert name in [s.name for s in service.list_shares()]
    props = service.get_share_client(name).get_share_properties()
    assert (props.quota, props.metadata) == (7, {"purpose": "test"})
    service.delete_share(name)
    assert name not in [s.name for s in service.list_shares()]
    with pytest.raises(ResourceNotFoundError) as missing:
        service.get_share_client(name).get_share_properties()
    assert missing.value.error_code == "ShareNotFound"


def test_directories_exist_list_and_refuse_deletion_while_not_empty(share):
    parent = share.create_directory("models")
    parent.create_subdirectory("base")
    assert parent.exists() and parent.get_subdirectory_client("base").exists()
    assert not share.get_directory_client("nothing").exists()
    assert parent.get_directory_properties().is_directory
    assert [(e.name, e.is_directory) for e in share.list_directories_and_files()] == [("models", True)]
    with pytest.raises(ResourceExistsError) as not_empty:
        parent.delete_directory()
    assert not_empty.value.error_code == "DirectoryNotEmpty"
    parent.delete_subdirectory("base")
    parent.delete_directory()
    assert list(share.list_directories_and_files()) == []


def test_missing_parent_gives_404_parent_not_found(share):
    with pytest.raises(ResourceNotFoundError) as file_error:
        share.get_file_client("no/such/dir/file.txt").upload_file(b"x")
    with pytest.raises(ResourceNotFoundError) as dir_error:
        share.create_directory("no/such")
    assert file_error.value.error_code == dir_error.value.error_code == "ParentNotFound"
    assert file_error.value.status_code == 404


def test_small_file_keeps_content_md5_type_and_metadata_and_sits_on_disk(files_server, share):
    data = b'{"r": 8}'
    file = share.get_file_client("adapter_config.json")
    file.upload_file(
        data,
        metadata={"version": "3"},
        content_settings=ContentSettings(content_type="application/json", content_md5=_md5(data)),
    )
    props = file.get_file_properties()
    assert props.content_settings.content_md5 == _md5(data)
    assert (props.content_settings.content_type, props.metadata, props.size) == (
        "application/json",
        {"version": "3"},
        8,
    )
    download = file.download_file()
    assert download.readall() == data
    assert download.properties.content_settings.content_md5 == _md5(data)
    on_disk = files_server.store.share_path(files_server.account, share.share_name) / "adapter_config.json"
    assert on_disk.read_bytes() == data


def test_large_file_goes_up_in_parallel_4mib_ranges_and_comes_back_whole_and_ranged(share):
    data = os.urandom(9 * MIB + 12345)
    file = share.get_file_client("weights.safetensors")
    file.upload_file(data, max_concurrency=4, validate_content=True)
    assert file.download_file(max_concurrency=2).readall() == data
    assert file.download_file(offset=5 * MIB - 7, length=100).readall() == data[5 * MIB - 7 : 5 * MIB + 93]
    assert file.download_file(offset=9 * MIB, validate_content=True).readall() == data[9 * MIB :]
    covered = file.get_ranges()
    assert covered[0]["start"] == 0 and covered[-1]["end"] == len(data) - 1


def test_range_with_a_wrong_content_md5_is_rejected_as_md5_mismatch(share):
    file = share.get_file_client("checked.bin")
    file.create_file(4)
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()

    def send_wrong_md5(request):  # runs before the SDK signs, so the signature stays valid
        request.http_request.headers["Content-MD5"] = wrong

    with pytest.raises(HttpResponseError) as mismatch:
        file.upload_range(b"abcd", 0, 4, raw_request_hook=send_wrong_md5)
    assert (mismatch.value.status_code, mismatch.value.error_code) == (400, "Md5Mismatch")
    assert file.download_file().readall() == bytes(4)


def test_empty_file_downloads_as_empty(share):
    file = share.get_file_client("empty")
    file.upload_file(b"")
    assert file.download_file().readall() == b""


def test_rename_replaces_the_target_atomically_and_refuses_without_replace(share):
    share.get_file_client("current").upload_file(b"v1")
    share.get_file_client("current.next").upload_file(b"v2")
    with pytest.raises(ResourceExistsError):
        share.get_file_client("current.next").rename_file("current")
    renamed = share.get_file_client("current.next").rename_file("current", overwrite=True)
    assert renamed.download_file().readall() == b"v2"
    assert not share.get_file_client("current.next").exists()
    share.create_directory("old").get_file_client("f").upload_file(b"f")
    share.get_directory_client("old").rename_directory("new")
    assert share.get_file_client("new/f").download_file().readall() == b"f"


def test_http_headers_metadata_and_resize_round_trip(share):
    file = share.get_file_client("props.txt")
    file.upload_file(b"hello")
    file.set_http_headers(
        ContentSettings(content_type="text/plain", content_md5=_md5(b"hello"), cache_control="no-cache")
    )
    file.set_file_metadata({"a": "1"})
    file.resize_file(10)
    props = file.get_file_properties()
    assert (props.size, props.metadata, props.content_settings.content_type) == (10, {"a": "1"}, "text/plain")
    assert (props.content_settings.content_md5, props.content_settings.cache_control) == (
        _md5(b"hello"),
        "no-cache",
    )


def test_delete_file_then_it_is_not_found(share):
    file = share.get_file_client("gone.txt")
    file.upload_file(b"x")
    file.delete_file()
    with pytest.raises(ResourceNotFoundError) as missing:
        file.get_file_properties()
    assert missing.value.error_code == "ResourceNotFound"


def test_listing_pages_through_every_entry_in_name_order(share):
    names = [f"f{i}.txt" for i in range(7)]
    for name in names:
        share.get_file_client(name).upload_file(name.encode())
    listed = share.list_directories_and_files(results_per_page=3)
    assert [e.name for page in listed.by_page() for e in page] == names
    assert [e.name for e in share.list_directories_and_files(name_starts_with="f1")] == ["f1.txt"]
    assert {e.name: e.size for e in share.list_directories_and_files()}["f3.txt"] == 6


def test_wrong_account_key_gets_403_authentication_failed(files_server):
    other_key = base64.b64encode(os.urandom(64)).decode()
    with pytest.raises(ClientAuthenticationError) as failure:
        with files_server.service(key=other_key) as service:
            list(service.list_shares())
    assert (failure.value.status_code, failure.value.error_code) == (403, "AuthenticationFailed")


def test_unsigned_request_gets_the_azure_error_xml_and_error_code_header(files_server, share):
    context = ssl.create_default_context(cafile=str(files_server.ca_file))
    url = f"{files_server.account_url}/{share.share_name}/some/file"
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(url, context=context, timeout=10)
    body = ET.fromstring(answer.value.read())
    assert answer.value.code == 401
    assert answer.value.headers["x-ms-error-code"] == body.findtext("Code") == "NoAuthenticationInformation"
    assert body.findtext("Message") and answer.value.headers["x-ms-request-id"]
