"""One thin function per command: flags -> a request dataclass -> one operation call, each
operation called as operation(cmd, workspace, request) (init: operation(cmd, request), since it
makes the workspace)."""
# az binds each flag to the parameter of its name: a handler's signature is its flag list (the
# reason azdev's pylintrc disables too-many-arguments; this is that check's positional twin).
# pylint: disable=too-many-positional-arguments


def _workspace(workspace):
    """The one place a command's --workspace (or the current folder) becomes a project."""
    from .workspace import Workspace
    return Workspace.find(workspace)


def init(cmd, workspace=None, force=False):
    from .scaffold import InitRequest, init_workspace
    return init_workspace(cmd, InitRequest(folder=workspace or ".", force=force))


def provision(cmd, workspace=None, resource_group_name=None, location=None, parameters=None,
              arm_deployment_name=None, no_wait=False, yes=False):
    from .provision import ProvisionRequest
    from .provision import provision as run
    return run(cmd, _workspace(workspace), ProvisionRequest(
        resource_group=resource_group_name, location=location, parameters=parameters,
        deployment_name=arm_deployment_name, no_wait=no_wait, yes=yes))


def show_provision(cmd, workspace=None, resource_group_name=None, arm_deployment_name=None):
    """The getter `az aitk-infer wait` polls: the provision's ARM deployment."""
    from .provision import show_deployment
    return show_deployment(cmd, _workspace(workspace), resource_group_name, arm_deployment_name)


def deploy(cmd, workspace=None, source=None, adapter_dir=None, base_model_dir=None,
           no_restart=False, no_wait=False, timeout=900, rollback=False):
    from .deploy import DeployRequest
    from .deploy import deploy as run
    return run(cmd, _workspace(workspace), DeployRequest(
        source=source, adapter_dir=adapter_dir, base_model_dir=base_model_dir,
        restart=not no_restart, wait=not no_wait, timeout=timeout, rollback=rollback))


def show_endpoint(cmd, workspace=None, live=False):
    from .endpoint import ShowEndpointRequest
    from .endpoint import show_endpoint as run
    return run(cmd, _workspace(workspace), ShowEndpointRequest(live=live))


def logs(cmd, workspace=None, follow=False, tail=20):
    from .logs import LogsRequest, print_logs
    print_logs(cmd, _workspace(workspace), LogsRequest(follow=follow, tail=tail))
