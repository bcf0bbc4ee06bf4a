"""One thin function per command: arguments -> one operation call -> result dict."""


def init(workspace=".", force=False):
    from .scaffold import init_workspace
    return init_workspace(workspace, force=force)


def show_endpoint(workspace=None):
    from .endpoint import show_endpoint as run
    from .workspace import Workspace
    return run(Workspace.find(workspace))
