"""SharedKey verification against signatures made by the real SDK's signing policy."""

import base64
import datetime
import email.utils
import os
from urllib.parse import urlparse

import pytest
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest
from azure.storage.fileshare._shared.authentication import SharedKeyCredentialPolicy
from multidict import CIMultiDict

from localcloud.storage import exceptions as err
from localcloud.storage.sharedkey import verify

ACCOUNT = "signer1"
KEY = os.urandom(64)
URL = "https://127.0.0.1:9/signer1/share/dir%20a/file.bin?comp=range&timeout=30"


def _signed(method="PUT", url=URL, key=KEY, **headers):
    """Headers as the SDK sends them, signed by the SDK's own SharedKey policy."""
    now = email.utils.format_datetime(datetime.datetime.now(datetime.UTC), usegmt=True)
    request = HttpRequest(method, url, headers={"x-ms-date": now, "x-ms-version": "2025-11-05", **headers})
    SharedKeyCredentialPolicy(ACCOUNT, base64.b64encode(key).decode()).on_request(
        PipelineRequest(request, PipelineContext(None))
    )
    return CIMultiDict(request.headers)


def _verify(headers, method="PUT", url=URL, keys=(KEY,)):
    parsed = urlparse(url)
    verify(method, headers, ACCOUNT, parsed.path, parsed.query, list(keys))


def test_sdk_signature_with_ranges_metadata_and_md5_verifies():
    headers = _signed(
        **{
            "x-ms-range": "bytes=0-3",
            "x-ms-write": "update",
            "Content-Length": "4",
            "Content-MD5": "4vxxTEcn7pOV8yTNLn8zHw==",
            "x-ms-meta-Owner": "me",
            "x-ms-file-rename-replace-if-exists": "true",
        }
    )
    _verify(headers)


def test_signature_made_with_the_second_key_verifies():
    other = os.urandom(64)
    _verify(_signed(key=other), keys=(KEY, other))


def test_wrong_key_fails_with_authentication_failed():
    with pytest.raises(err.AuthenticationFailed) as failure:
        _verify(_signed(key=os.urandom(64)))
    assert failure.value.status == 403


def test_changed_header_after_signing_fails():
    headers = _signed(**{"x-ms-content-length": "10"})
    headers["x-ms-content-length"] = "11"
    with pytest.raises(err.AuthenticationFailed):
        _verify(headers)


def test_request_older_than_fifteen_minutes_fails():
    headers = _signed()
    with pytest.raises(err.AuthenticationFailed, match="15 minutes"):
        parsed = urlparse(URL)
        verify(
            "PUT",
            headers,
            ACCOUNT,
            parsed.path,
            parsed.query,
            [KEY],
            now=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=16),
        )


def test_missing_authorization_is_no_authentication_information():
    with pytest.raises(err.NoAuthenticationInformation):
        _verify(CIMultiDict({"x-ms-date": "Mon, 01 Jan 2024 00:00:00 GMT"}))
