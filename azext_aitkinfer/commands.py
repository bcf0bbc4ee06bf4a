"""Which commands exist. Kept free of heavy imports: az loads this for every command line."""


def load_command_table(loader, _):
    with loader.command_group("aitk-infer", is_preview=True) as g:
        g.custom_command("init", "init")
        g.custom_command("provision", "provision", supports_no_wait=True)
        g.custom_command("deploy", "deploy", supports_no_wait=True)
        g.custom_show_command("show-endpoint", "show_endpoint")
        g.custom_command("logs", "logs")
