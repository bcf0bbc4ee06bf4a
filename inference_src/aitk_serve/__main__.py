"""`python3 -m aitk_serve`: one uvicorn worker on $PORT (one worker: the model lives in this process)."""

from __future__ import annotations

import functools
import logging
import os
import sys

import uvicorn

from .app import create_app
from .config import load_settings
from .errors import ConfigError


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except ConfigError as exc:
        logging.getLogger("aitk_serve").error("configuration: %s", exc)
        return 2
    # The container listens on every interface; tests and local runs may pin 127.0.0.1.
    host = os.environ.get("AITK_HOST", "0.0.0.0")  # noqa: S104
    # factory=True: the app is built inside uvicorn's event loop, where gradio expects to create its locks.
    app_factory = functools.partial(create_app, settings)
    uvicorn.run(app_factory, factory=True, host=host, port=settings.port, workers=1, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
