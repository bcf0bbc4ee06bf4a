"""The retry policy of the share clients `_client_factory.retry_policy()` builds (a module of its
own: subclassing needs azure-core at import time, and the factory imports SDKs only when called)."""
from azure.core.pipeline.policies import RetryPolicy
from azure.storage.fileshare import LocationMode


class FilesRetryPolicy(RetryPolicy):
    """azure-core's retry policy fitted to storage clients: it retries 408/429/5xx and connection
    errors, honours Retry-After and backs off exponentially from a short start (the storage SDK's
    own policy does not retry 429 and first waits 15 s). Its secondary-location bookkeeping, which
    the storage pipeline expects of its retry policy, is reduced to "always the primary"."""

    _STORAGE_ONLY_OPTIONS = ("hosts", "location_mode", "retry_to_secondary", "retry_hook")

    def configure_retries(self, options):
        for name in self._STORAGE_ONLY_OPTIONS:
            options.pop(name, None)
        return super().configure_retries(options)

    def send(self, request):
        response = super().send(request)
        response.http_response.location_mode = LocationMode.PRIMARY
        return response
