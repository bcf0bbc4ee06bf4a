"""The extension's command table with every command's arguments loaded, as az builds it."""
from types import SimpleNamespace

from azure.cli.core.mock import DummyCli

from azext_aitkinfer import AitkInferCommandsLoader


def load_commands():
    cli = DummyCli()
    loader = AitkInferCommandsLoader(cli_ctx=cli)
    loader.load_command_table(None)
    for name in list(loader.command_table):
        cli.invocation = SimpleNamespace(data={"command_string": name}, commands_loader=loader)
        loader.command_name = name
        loader.command_table[name].load_arguments()
        loader.load_arguments(name)
        loader._update_command_definitions()
    return loader.command_table
