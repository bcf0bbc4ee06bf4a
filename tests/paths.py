"""Where the repository is, for tests that run its files (the Makefile, demo scripts, the wheel), and
where tests keep what they build once per machine."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Built once per machine and reused by later runs, clean clones included: each cached thing is keyed by
# what it was built from (packed environments by requirements and interpreter, demo assets by their inputs).
MACHINE_CACHE = Path.home() / ".cache" / "aitk-infer-tests"
