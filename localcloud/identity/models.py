"""Access tokens: JWTs signed with a per-cloud secret, so ARM can tell its own tokens from others."""

from __future__ import annotations

import time
import uuid

import jwt

TOKEN_LIFETIME_SECONDS = 3600
MANAGEMENT_AUDIENCE = "https://management.core.windows.net/"


class InvalidToken(Exception):
    pass


class TokenIssuer:
    def __init__(self, secret: str, tenant_id: str, principal_id: str):
        self._secret = secret
        self.tenant_id = tenant_id
        self.principal_id = principal_id

    def issue(self, resource: str) -> tuple[str, int]:
        now = int(time.time())
        expires_on = now + TOKEN_LIFETIME_SECONDS
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": expires_on,
            "tid": self.tenant_id,
            "oid": self.principal_id,
            "sub": self.principal_id,
            "appid": self.principal_id,
            "idtyp": "app",
            "xms_mirid": "localcloud",
            "uti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256"), expires_on

    def verify(self, token: str) -> dict:
        try:
            return jwt.decode(token, self._secret, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
