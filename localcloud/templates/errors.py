"""Errors of the template engine, shaped like ARM's error responses."""

from __future__ import annotations

REDACTED = "***"
# Shorter secure values would mangle ordinary words of a message when redacted.
MIN_REDACTED_LENGTH = 4


class TemplateError(Exception):
    """An ARM error: ``code`` and ``message`` as ARM puts them on the wire, plus optional details.

    ``details`` is a list of ARM error objects (``{"code", "message", "target"?}``).
    """

    def __init__(self, code: str, message: str, details: list[dict] | None = None,
                 target: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = list(details or [])
        self.target = target

    def to_error(self) -> dict:
        """The ARM wire form (the ``error`` object of an ARM error response)."""
        error: dict = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return error

    def redacted(self, secrets: list[str]) -> TemplateError:
        """A copy with every secure parameter value replaced, so secrets never reach output."""
        hidden = sorted((s for s in secrets if len(s) >= MIN_REDACTED_LENGTH), key=len, reverse=True)

        def scrub(text: str) -> str:
            for secret in hidden:
                text = text.replace(secret, REDACTED)
            return text

        details = [{**d, "message": scrub(str(d.get("message", "")))} for d in self.details]
        return TemplateError(self.code, scrub(self.message), details, self.target)

    def __str__(self) -> str:
        inner = "".join(f" [{d.get('code')}: {d.get('message')}]" for d in self.details)
        return f"{self.code}: {self.message}{inner}"


class ExpressionError(Exception):
    """A failure inside one expression; the caller adds where it happened (see ``at``)."""

    def __init__(self, message: str, code: str = "InvalidTemplate"):
        super().__init__(message)
        self.code = code
        self.message = message


def provider_error_fields(err: BaseException) -> tuple[str, str] | None:
    """``(code, message)`` of an error raised by a ResourceProvider, or None for any other error.

    A provider signals an ARM error by raising an exception with string ``code`` and ``message``
    attributes (and optionally ``status``); anything else is a bug and propagates unchanged.
    """
    code, message = getattr(err, "code", None), getattr(err, "message", None)
    if isinstance(code, str) and isinstance(message, str):
        return code, message
    return None
