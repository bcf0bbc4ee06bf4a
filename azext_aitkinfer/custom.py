"""One thin function per command: arguments -> one operation call -> result dict."""


def _workspace(workspace):
    from .workspace import Workspace
    return Workspace.find(workspace)


def init(workspace=".", force=False):
    from .scaffold import init_workspace
    return init_workspace(workspace, force=force)


def provision(cmd, workspace=None, resource_group_name=None, location=None, parameters=None,
              arm_deployment_name=None, no_wait=False, yes=False):
    from .provision import provision as run
    return run(cmd, workspace, resource_group_name, location, parameters, arm_deployment_name,
               no_wait, yes)


def deploy(cmd, workspace=None, source=None, adapter_dir=None, base_model_dir=None,
           no_restart=False, no_wait=False, timeout=900, rollback=False):
    from .deploy import DeployRequest
    from .deploy import deploy as run
    return run(cmd, _workspace(workspace), DeployRequest(
        source=source, adapter_dir=adapter_dir, base_model_dir=base_model_dir,
        restart=not no_restart, wait=not no_wait, timeout=timeout, rollback=rollback))


def show_endpoint(cmd, workspace=None, live=False):
    from .endpoint import show_endpoint as run
    return run(cmd.cli_ctx, _workspace(workspace), live=live)


def logs(cmd, workspace=None, follow=False, tail=20):
    from .logs import print_logs
    print_logs(cmd.cli_ctx, _workspace(workspace), follow=follow, tail=tail)
