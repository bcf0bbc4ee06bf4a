"""The managed identity endpoint's route (App Service protocol, what MSAL calls through IDENTITY_ENDPOINT)."""

from __future__ import annotations

from localcloud.routing import Route

TOKEN_PATH = "/msi/token"  # noqa: S105 - a URL path, not a secret

routes = [Route(("GET",), TOKEN_PATH, "token", "managed identity token for a resource (`az login --identity`)")]
