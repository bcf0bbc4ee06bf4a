"""Where the repository is, for tests that run its files (the Makefile, demo scripts, the wheel)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
