"""What each command's flags are called and mean (help texts live with the flags)."""
from knack.arguments import CLIArgumentType

WORKSPACE_HELP = ("The AI Toolkit project folder (the one holding infra/). Default: the current "
                  "folder or its nearest parent that holds infra/.")

workspace_type = CLIArgumentType(options_list=["--workspace", "-w"], help=WORKSPACE_HELP)


def load_arguments(loader, _):
    from azure.cli.core.commands.parameters import get_three_state_flag

    flag = get_three_state_flag()

    with loader.argument_context("aitk-infer") as c:
        c.argument("workspace", workspace_type)

    with loader.argument_context("aitk-infer init") as c:
        c.argument("workspace", workspace_type,
                   help="Folder to write the project files into; created when missing. "
                        "Default: the current folder.")
        c.argument("force", arg_type=flag,
                   help="Overwrite files that already exist with other content.")

    for scope in ("aitk-infer provision", "aitk-infer wait"):
        with loader.argument_context(scope) as c:
            # az fills this dest from 'az configure --defaults group=' (a marked DefaultStr);
            # provision.resource_group() ranks that default after the fine-tuning config, since
            # reusing the fine-tuning group is the point.
            c.argument("resource_group_name", options_list=["--resource-group", "-g"],
                       help="Resource group. Default: RESOURCE_GROUP_NAME of "
                            "infra/finetuning.config.json, then of infra/inference.config.json, "
                            "then 'az configure --defaults group=', then a prompt.")
            # Not `deployment_name`: az's resource module gives that dest a generated default.
            c.argument("arm_deployment_name", options_list=["--deployment-name", "-n"],
                       help="Name of the ARM deployment. Default: aitk-infer.")

    with loader.argument_context("aitk-infer provision") as c:
        c.argument("location", options_list=["--location", "-l"],
                   help="Region of a new resource group, and of the app when it is created. "
                        "Default: the resource group's ('az configure --defaults location=' only "
                        "applies to a new group). An existing app keeps its region.")
        c.argument("parameters", options_list=["--parameters", "-p"], action="append", nargs="+",
                   help="Template parameters: name=value pairs, @file.json (ARM parameters file) "
                        "or a JSON object; can be repeated. They win over what an existing app "
                        "has, which wins over infra/provision/inference.parameters.json.")
        c.argument("yes", options_list=["--yes", "-y"], arg_type=flag,
                   help="Create a missing resource group without asking.")

    with loader.argument_context("aitk-infer deploy") as c:
        c.argument("source", help="Folder of the inference server to deploy. Default: "
                                  "inference_src/ of the project.")
        c.argument("adapter_dir", help="Local LoRA adapter folder (adapter_config.json + "
                                       "weights) to upload to the adapter path the app reads.")
        c.argument("base_model_dir", help="Local base model folder (config.json, tokenizer, "
                                          "safetensors) to upload to the base model path the "
                                          "app reads.")
        c.argument("no_restart", arg_type=flag,
                   help="Upload only; the running replicas keep the version they run until "
                        "their next restart.")
        c.argument("timeout", type=int,
                   help="Seconds to wait for the endpoint's /ready after the restart, and at most "
                        "as long for another deploy to the same share to finish first.")
        c.argument("rollback", arg_type=flag,
                   help="Switch back to the previously deployed version of the code and restart; "
                        "uploads nothing.")

    with loader.argument_context("aitk-infer show-endpoint") as c:
        c.argument("live", arg_type=flag,
                   help="Ask Azure for the app's current FQDN and latest revision state, probe "
                        "/ready, and update the config if the FQDN moved.")

    with loader.argument_context("aitk-infer logs") as c:
        c.argument("follow", arg_type=flag, help="Keep streaming new lines until Ctrl+C.")
        c.argument("tail", type=int, help="Number of past lines to show first (0-300).")
