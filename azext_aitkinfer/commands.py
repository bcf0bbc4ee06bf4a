"""Which commands exist. Kept free of heavy imports: az loads this for every command line."""


def load_command_table(loader, _):
    with loader.command_group("aitk-infer", is_preview=True) as g:
        g.custom_command("init", "init")
        g.custom_command("provision", "provision", supports_no_wait=True)
        # azdev's rule require_wait_command_if_no_wait: az's generic wait, polling the deployment.
        g.custom_wait_command("wait", "show_provision")
        g.custom_command("deploy", "deploy", supports_no_wait=True)
        g.custom_show_command("show-endpoint", "show_endpoint")
        g.custom_command("logs", "logs")
