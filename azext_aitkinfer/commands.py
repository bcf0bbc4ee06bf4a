"""Which commands exist. Kept free of heavy imports: az loads this for every command line."""


def load_command_table(loader, _):
    with loader.command_group("aitk-infer", is_preview=True) as g:
        g.custom_command("init", "init")
        g.custom_show_command("show-endpoint", "show_endpoint")
