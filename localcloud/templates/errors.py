"""The error inside one template expression; the engine turns it into an ArmError naming where it happened."""

from __future__ import annotations


class ExpressionError(Exception):
    """A failure inside one expression; the caller adds where it happened (see ``at``)."""

    def __init__(self, message: str, code: str = "InvalidTemplate"):
        super().__init__(message)
        self.code = code
        self.message = message
