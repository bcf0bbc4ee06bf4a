"""`python -m aitk_start.serve`, run by the prepared environment's interpreter: the server, or the
stand-in that says why it cannot even import (instead of a crash loop that says nothing on /ready)."""

from __future__ import annotations

import sys

from .failed_server import serve


def main() -> int:
    try:
        from aitk_serve.__main__ import main as server_main
    except Exception as exc:  # noqa: BLE001 (any import failure: reported on /ready, not a traceback loop)
        first = str(exc).splitlines()[0] if str(exc) else ""
        serve(f"the server cannot start: {type(exc).__name__}: {first}")
        return 1
    return server_main()


if __name__ == "__main__":
    sys.exit(main())
