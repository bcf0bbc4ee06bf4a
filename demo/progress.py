"""Progress lines on stderr, so stdout carries only the result path."""

import sys
import time

_START = time.monotonic()


def progress(message: str) -> None:
    print(f"[demo {time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)
