"""SharedKey request signatures for the File service (Authorize with Shared Key, version 2009-09-19+).

StringToSign = VERB + "\\n" + the eleven standard headers, one a line (Content-Length empty
when 0) + canonicalized x-ms-* headers + canonicalized resource
("/" + account + encoded URI path, then "\\n" + name:values per query parameter, sorted).
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import unquote

# The SDK's emulation of the service's header collation (hyphens ignored at first level);
# using it keeps server and client ordering identical instead of copying its tables.
from azure.storage.fileshare._shared.authentication import _storage_header_sort

from .exceptions import AuthenticationFailed, NoAuthenticationInformation

_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)


def _canonical_query(raw_query: str) -> str:
    values: dict[str, list[str]] = {}
    for pair in filter(None, raw_query.split("&")):
        name, _, value = pair.partition("=")
        values.setdefault(unquote(name).lower(), []).append(unquote(value))
    return "".join(f"\n{name}:{','.join(sorted(values[name]))}" for name in sorted(values))


def string_to_sign(
    method: str, headers: Mapping[str, str], account: str, raw_path: str, raw_query: str
) -> str:
    """headers must be looked up case-insensitively (aiohttp's CIMultiDict is)."""
    standard = [headers.get(name, "") for name in _STANDARD_HEADERS]
    if standard[2] == "0":
        standard[2] = ""
    ms_headers = _storage_header_sort(
        [(k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-ms-")]
    )
    return (
        method.upper()
        + "\n"
        + "".join(f"{value}\n" for value in standard)
        + "".join(f"{name}:{value}\n" for name, value in ms_headers)
        + f"/{account}{raw_path}"
        + _canonical_query(raw_query)
    )


def _check_date(headers: Mapping[str, str], now: datetime.datetime) -> None:
    stamp = headers.get("x-ms-date") or headers.get("date")
    if not stamp:
        raise AuthenticationFailed("The request carries neither an x-ms-date nor a Date header.")
    try:
        sent = email.utils.parsedate_to_datetime(stamp)
    except (TypeError, ValueError):
        raise AuthenticationFailed(f"The request date '{stamp}' is not an RFC 1123 date.") from None
    if abs(now - sent) > MAX_CLOCK_SKEW:
        raise AuthenticationFailed(
            f"The request date '{stamp}' is more than 15 minutes away from the server time."
        )


def verify(
    method: str,
    headers: Mapping[str, str],
    account: str,
    raw_path: str,
    raw_query: str,
    keys: Sequence[bytes],
    now: datetime.datetime | None = None,
) -> None:
    """Raise unless the Authorization header is a SharedKey signature by one of the account's keys."""
    authorization = headers.get("authorization")
    if not authorization:
        if "sig=" in raw_query:
            raise AuthenticationFailed(
                "SAS tokens are not supported by localcloud; sign with the account key."
            )
        raise NoAuthenticationInformation()
    scheme, _, credential = authorization.partition(" ")
    signer, _, signature = credential.strip().rpartition(":")
    if scheme != "SharedKey" or signer != account:
        raise AuthenticationFailed(
            f"The Authorization header must be 'SharedKey {account}:<signature>' for account '{account}'."
        )
    _check_date(headers, now or datetime.datetime.now(datetime.UTC))
    expected_input = string_to_sign(method, headers, account, raw_path, raw_query)
    for key in keys:
        computed = base64.b64encode(hmac.new(key, expected_input.encode(), hashlib.sha256).digest()).decode()
        if hmac.compare_digest(computed, signature):
            return
    raise AuthenticationFailed(
        detail="The MAC signature found in the HTTP request is not the same as any computed signature. "
        f"Server used following string to sign: '{expected_input}'."
    )
