"""The `az aitk-infer` extension: serve an AI Toolkit LoRA adapter from Azure Container Apps."""
from azure.cli.core import AzCommandsLoader

# Importing _help registers the help texts.
from ._help import helps  # noqa: F401  # pylint: disable=unused-import


class AitkInferCommandsLoader(AzCommandsLoader):

    def __init__(self, cli_ctx=None):
        from azure.cli.core.commands import CliCommandType
        custom = CliCommandType(operations_tmpl="azext_aitkinfer.custom#{}")
        super().__init__(cli_ctx=cli_ctx, custom_command_type=custom)

    def load_command_table(self, args):
        from .commands import load_command_table
        load_command_table(self, args)
        return self.command_table

    def load_arguments(self, command):
        from ._params import load_arguments
        load_arguments(self, command)


COMMAND_LOADER_CLS = AitkInferCommandsLoader
