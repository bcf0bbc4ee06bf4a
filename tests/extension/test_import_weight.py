"""az imports every extension's loader for every command: ours must stay light."""
import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "gradio", "peft", "azure.mgmt", "azure.storage")

PROBE = """
import json, sys
from types import SimpleNamespace
from azure.cli.core.mock import DummyCli
from azext_aitkinfer import AitkInferCommandsLoader
cli = DummyCli()
loader = AitkInferCommandsLoader(cli_ctx=cli)
loader.load_command_table(None)
for name in list(loader.command_table):
    cli.invocation = SimpleNamespace(data={"command_string": name}, commands_loader=loader)
    loader.command_name = name
    loader.load_arguments(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_loading_the_command_table_imports_nothing_heavy():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True).stdout
    modules = json.loads(out)
    assert "azext_aitkinfer.commands" in modules  # the probe really loaded our table
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
