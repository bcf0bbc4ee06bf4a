"""The App Service managed identity endpoint (what MSAL calls through IDENTITY_ENDPOINT)."""

from __future__ import annotations

import hmac

from aiohttp import web

from localcloud.identity import urls
from localcloud.identity.models import TokenIssuer


def add_routes(app: web.Application, issuer: TokenIssuer, identity_header: str) -> None:
    async def token(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get("X-IDENTITY-HEADER", ""), identity_header):
            return web.json_response(
                {
                    "statusCode": 401,
                    "message": "X-IDENTITY-HEADER is missing or wrong: "
                    "use the IDENTITY_HEADER value from the local cloud's env file.",
                },
                status=401,
            )
        resource = request.query.get("resource") or request.query.get("scope", "").removesuffix("/.default")
        if not resource:
            return web.json_response(
                {"statusCode": 400, "message": "query parameter 'resource' is required"}, status=400
            )
        access_token, expires_on = issuer.issue(resource)
        return web.json_response(
            {
                "access_token": access_token,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": issuer.principal_id,
            }
        )

    app.router.add_get(urls.TOKEN_PATH, token)
