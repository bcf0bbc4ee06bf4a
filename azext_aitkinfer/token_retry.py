"""az's login credential with its token request retried: a managed identity endpoint (Cloud Shell,
a VM) that throttles or drops one connection must not end the command with a traceback."""
import time

from azure.cli.core.azclierror import AuthenticationError, AzureConnectionError
from knack.log import get_logger

logger = get_logger(__name__)

BACKOFF_SECONDS = (1, 2, 4)  # msal replays a throttled answer until its Retry-After (seconds) passes


class RetryingCredential:
    """Wraps the credential az builds for the login context; everything else is passed through."""

    def __init__(self, credential):
        self._credential = credential

    def get_token(self, *scopes, **kwargs):
        return self._with_retries(lambda: self._credential.get_token(*scopes, **kwargs))

    def get_token_info(self, *scopes, options=None):
        return self._with_retries(lambda: self._credential.get_token_info(*scopes, options=options))

    def __getattr__(self, name):
        return getattr(self._credential, name)

    @staticmethod
    def _with_retries(request_token):
        import requests
        for pause in BACKOFF_SECONDS:
            try:
                return request_token()
            except (requests.RequestException, AuthenticationError) as ex:
                logger.info("Getting an access token failed (%s); retrying in %s s", type(ex).__name__, pause)
                time.sleep(pause)
        try:
            return request_token()  # the last attempt: az's own AuthenticationError says how to log in
        except requests.RequestException as ex:
            reason = str(ex).splitlines()[0][:200] if str(ex) else type(ex).__name__
            raise AzureConnectionError(
                f"Getting an access token failed {len(BACKOFF_SECONDS) + 1} times ({type(ex).__name__}: "
                f"{reason}). Fix: check the network, or run 'az login' again, then rerun the command") from None
