"""Which credential deploy uses on the share: the account key, or, when the account refuses shared
keys (`allowSharedKeyAccess: false`, common under enterprise policy), the az login's Entra token.
One ARM read (the account's properties, needed for its Files endpoint anyway) decides."""
import base64
import binascii
import json

from azure.cli.core.azclierror import UnauthorizedError

from . import _client_factory as clients

ROLE = "Storage File Data Privileged Contributor"
STORAGE_SCOPE = "https://storage.azure.com/.default"


def open_share(cli_ctx, config):
    subscription, group, account, share = config.require(
        "SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "STORAGE_ACCOUNT_NAME", "FILE_SHARE_NAME")
    storage = clients.storage_client(cli_ctx, subscription)
    properties = storage.storage_accounts.get_properties(group, account)
    url = properties.primary_endpoints.file
    if properties.allow_shared_key_access is False:
        credential = clients.login_credential(cli_ctx, subscription)
        client = clients.share_client_with_token(url, share, credential)
        _check_role(client, credential, account, properties.id)
        return client
    # logging_enable=False: `az --debug` logs response bodies, and this one holds the key.
    key = storage.storage_accounts.list_keys(group, account, logging_enable=False).keys_property[0].value
    return clients.share_client(url, share, account, key)


def _assignee(credential):
    """`--assignee-object-id <oid> --assignee-principal-type <type>` of the login, read from its
    token's claims (not verified: only to write the command); a placeholder if they cannot be read."""
    try:
        payload = credential.get_token(STORAGE_SCOPE).token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        kind = "User" if claims.get("idtyp") == "user" or "upn" in claims else "ServicePrincipal"
        return f"--assignee-object-id {claims['oid']} --assignee-principal-type {kind}"
    except (IndexError, KeyError, ValueError, binascii.Error, AttributeError):
        return "--assignee <your user or app>"


def _check_role(client, credential, account, account_id):
    """One read before any upload, so a missing role is said once, plainly, not per file."""
    from azure.core.exceptions import HttpResponseError
    try:
        client.get_share_properties()
    except HttpResponseError as ex:
        if ex.status_code != 403:
            raise
        raise UnauthorizedError(
            f"Storage account '{account}' refuses shared keys and your az login may not use its files "
            f"({ex.error_code}): it needs the role '{ROLE}'. Fix: az role assignment create --role "
            f"\"{ROLE}\" {_assignee(credential)} --scope {account_id}") from None
