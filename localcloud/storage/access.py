"""Who may call the Files data plane: SharedKey signatures (unless the account turned shared keys off)
and Microsoft Entra bearer tokens with the backup intent and a file data role (see localcloud/README.md,
"Azure Files without account keys")."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from localcloud.identity.models import InvalidToken, TokenIssuer
from localcloud.storage import exceptions as err
from localcloud.storage import sharedkey

STORAGE_AUDIENCES = {"https://storage.azure.com/", "https://storage.azure.com"}
INTENT_HEADER = "x-ms-file-request-intent"
_READ_METHODS = {"GET", "HEAD"}

AccountKeys = Callable[[str], "list[bytes] | None"]  # the account's keys, None when there is no such account
Authorize = Callable[[web.Request, str, str], None]  # (request, account, share); raises FilesError


def _account_keys(account_keys: AccountKeys, account: str) -> list[bytes]:
    keys = account_keys(account)
    if keys is None:
        raise err.AccountNotFound(f"The storage account '{account}' does not exist in localcloud.")
    return keys


def _verify_shared_key(request: web.Request, account: str, keys: list[bytes]) -> None:
    url = request.rel_url
    sharedkey.verify(request.method, request.headers, account, url.raw_path, url.raw_query_string, keys)


def shared_key_only(account_keys: AccountKeys) -> Authorize:
    """SharedKey signatures and nothing else (the in-process Files server of the tests)."""

    def authorize(request: web.Request, account: str, share: str) -> None:
        _verify_shared_key(request, account, _account_keys(account_keys, account))

    return authorize


class DataPlaneAccess:
    """The local cloud's rules: the account's shared-key setting, its keys, tokens and role assignments."""

    def __init__(self, accounts, issuer: TokenIssuer, roles):
        self.accounts = accounts  # storage.accounts.StorageAccounts
        self.issuer = issuer
        self.roles = roles  # authorization.models.RoleAssignments

    def __call__(self, request: web.Request, account: str, share: str) -> None:
        keys = _account_keys(self.accounts.account_keys, account)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            self._token(request, account, share, token.strip())
        elif not self.accounts.shared_key_allowed(account):
            raise err.KeyBasedAuthenticationNotPermitted()
        else:
            _verify_shared_key(request, account, keys)

    def _token(self, request: web.Request, account: str, share: str, token: str) -> None:
        try:
            claims = self.issuer.verify(token)
        except InvalidToken as exc:
            raise err.InvalidAuthenticationInfo(detail=f"The token is not valid for this local cloud: {exc}.") from None
        if claims.get("aud") not in STORAGE_AUDIENCES:
            raise err.InvalidAuthenticationInfo(detail="Audience validation failed. Audience did not match.")
        if request.headers.get(INTENT_HEADER, "").lower() != "backup":
            raise err.AuthorizationFailure()
        resource = self.accounts.find(account)["id"]
        if share:
            resource = f"{resource}/fileServices/default/fileshares/{share}"
        action = "read" if request.method in _READ_METHODS else "write"
        data_action = f"Microsoft.Storage/storageAccounts/fileServices/fileshares/files/{action}"
        if not self.roles.allows(str(claims.get("oid")), resource, data_action):
            raise err.AuthorizationPermissionMismatch()
