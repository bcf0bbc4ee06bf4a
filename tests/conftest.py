"""Settings every test shares: az sees the extension `make test` installed into .venv."""
import os

from tests.paths import REPO

# The Makefile exports these; set them too when pytest runs on its own.
os.environ.setdefault("AZURE_EXTENSION_DIR", str(REPO / ".venv" / "az-extensions"))
os.environ.setdefault("AZURE_CONFIG_DIR", str(REPO / ".venv" / "azure-config"))
