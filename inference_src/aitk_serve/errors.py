"""Error types carrying a one-line, user-facing message; rendered once at the edge (log line or HTTP)."""


class ConfigError(ValueError):
    """An environment variable has a value the server cannot use."""


class ModelLoadError(RuntimeError):
    """The base model or adapter cannot be found, checked or loaded."""


class AdapterCheckError(ModelLoadError):
    """The adapter does not fit the loaded base model."""


class ApiError(Exception):
    """A request the API refuses, with the OpenAI error fields and the HTTP status to answer."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param=None, code=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers: dict[str, str] = {}


class NotReadyError(RuntimeError):
    """No model to serve yet (loading) or ever (loading failed); the message says which."""
