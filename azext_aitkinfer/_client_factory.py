"""The only place that builds SDK clients, all from the az login context and cloud."""


def _mgmt(cli_ctx, resource_type, subscription_id):
    from azure.cli.core._profile import Profile
    from azure.cli.core.commands.client_factory import get_mgmt_service_client

    from .token_retry import RetryingCredential
    credential, subscription_id, _ = Profile(cli_ctx=cli_ctx).get_login_credentials(
        subscription_id=subscription_id or cli_ctx.data.get("subscription_id"))
    return get_mgmt_service_client(cli_ctx, resource_type, subscription_id=subscription_id,
                                   credential=RetryingCredential(credential))


def resource_groups_client(cli_ctx, subscription_id):
    from azure.cli.core.profiles import ResourceType
    return _mgmt(cli_ctx, ResourceType.MGMT_RESOURCE_RESOURCES, subscription_id).resource_groups


def resources_client(cli_ctx, subscription_id):
    from azure.cli.core.profiles import ResourceType
    return _mgmt(cli_ctx, ResourceType.MGMT_RESOURCE_RESOURCES, subscription_id).resources


def deployments_client(cli_ctx, subscription_id):
    from azure.cli.core.profiles import ResourceType
    return _mgmt(cli_ctx, ResourceType.MGMT_RESOURCE_DEPLOYMENTS, subscription_id).deployments


def storage_client(cli_ctx, subscription_id):
    from azure.mgmt.storage import StorageManagementClient
    return _mgmt(cli_ctx, StorageManagementClient, subscription_id)


def containerapps_client(cli_ctx, subscription_id):
    from azure.mgmt.appcontainers import ContainerAppsAPIClient
    return _mgmt(cli_ctx, ContainerAppsAPIClient, subscription_id)


def share_client(account_url, share_name, account_name, account_key):
    """Azure Files data plane with the account key (SMB mounts need the key anyway)."""
    from azure.storage.fileshare import ShareClient

    return ShareClient(account_url=account_url, share_name=share_name,
                       credential={"account_name": account_name, "account_key": account_key},
                       retry_policy=retry_policy())


def login_credential(cli_ctx, subscription_id):
    """The az login's token credential (retried), for data planes that take Entra tokens."""
    from azure.cli.core._profile import Profile

    from .token_retry import RetryingCredential
    credential, _, _ = Profile(cli_ctx=cli_ctx).get_login_credentials(subscription_id=subscription_id)
    return RetryingCredential(credential)


def share_client_with_token(account_url, share_name, credential):
    """Azure Files data plane with an Entra token, for accounts that refuse shared keys. The Files
    REST API takes OAuth only with the backup intent (x-ms-file-request-intent: backup), which needs
    the role Storage File Data Privileged Contributor (or Reader) on the account."""
    from azure.storage.fileshare import ShareClient
    return ShareClient(account_url=account_url, share_name=share_name, credential=credential,
                       token_intent="backup", retry_policy=retry_policy())  # noqa: S106


def retry_policy():
    """For every ShareClient: ShareClient(..., retry_policy=retry_policy())."""
    from ._files_retry import FilesRetryPolicy
    return FilesRetryPolicy(retry_total=10, retry_connect=6, retry_read=6, retry_status=8,
                            retry_backoff_factor=0.5, retry_backoff_max=30)
