"""az imports every extension's loader for every command: ours must stay light."""
import json
import subprocess
import sys

from tests.paths import REPO

HEAVY = ("torch", "transformers", "gradio", "peft", "azure.mgmt", "azure.storage")

PROBE = """
import json, sys
from tests.extension.command_table import load_commands
load_commands()
print(json.dumps(sorted(sys.modules)))
"""


def test_loading_the_command_table_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    modules = json.loads(out)
    assert "azext_aitkinfer.commands" in modules  # the probe really loaded our table
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
