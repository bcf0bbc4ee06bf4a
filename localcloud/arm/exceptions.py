"""ARM's error: its wire status, code and message (and details, target), rendered as {"error": {...}}.

The one error class of every ARM service here and of the template engine: a resource kind raises it,
a deployment reports it as a DeploymentFailed detail, the router puts it on the wire.
"""

from __future__ import annotations

REDACTED = "***"
# Shorter secure values would mangle ordinary words of a message when redacted.
MIN_REDACTED_LENGTH = 4


class ArmError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict] | None = None,
        target: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details or [])  # ARM error objects ({"code", "message", "target"?})
        self.target = target

    def to_dict(self) -> dict:
        """The ARM wire form (the ``error`` object of an ARM error response)."""
        error: dict = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return error

    def redacted(self, secrets: list[str]) -> ArmError:
        """A copy with every secure parameter value replaced, so secrets never reach output."""
        hidden = sorted((s for s in secrets if len(s) >= MIN_REDACTED_LENGTH), key=len, reverse=True)

        def scrub(text: str) -> str:
            for secret in hidden:
                text = text.replace(secret, REDACTED)
            return text

        details = [{**d, "message": scrub(str(d.get("message", "")))} for d in self.details]
        return ArmError(self.status, self.code, scrub(self.message), details, self.target)

    def __str__(self) -> str:
        inner = "".join(f" [{d.get('code')}: {d.get('message')}]" for d in self.details)
        return f"{self.code}: {self.message}{inner}"


def resource_not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def resource_group_not_found(resource_group: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")


def subscription_not_found(subscription_id: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")


def no_registered_provider(resource_type: str, api_version: str | None, location: str) -> ArmError:
    return ArmError(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{location}' and API version "
        f"'{api_version}' for type '{resource_type}'.",
    )


def invalid_request(message: str) -> ArmError:
    return ArmError(400, "InvalidRequestContent", message)


def missing_api_version() -> ArmError:
    return ArmError(
        400,
        "MissingApiVersionParameter",
        "The api-version query parameter (?api-version=) is required for all requests.",
    )


def unauthenticated(reason: str) -> ArmError:
    return ArmError(401, "AuthenticationFailed", f"Authentication failed. {reason}")
