"""What each command's flags are called and mean (help texts live with the flags)."""
from knack.arguments import CLIArgumentType

WORKSPACE_HELP = ("The AI Toolkit project folder (the one holding infra/). Default: the current "
                  "folder or its nearest parent that holds infra/.")

workspace_type = CLIArgumentType(options_list=["--workspace", "-w"], help=WORKSPACE_HELP)


def load_arguments(loader, _):
    from azure.cli.core.commands.parameters import get_three_state_flag

    with loader.argument_context("aitk-infer") as c:
        c.argument("workspace", workspace_type)

    with loader.argument_context("aitk-infer init") as c:
        c.argument("workspace", workspace_type,
                   help="Folder to write the project files into; created when missing. "
                        "Default: the current folder.")
        c.argument("force", arg_type=get_three_state_flag(),
                   help="Overwrite files that already exist with other content.")
