"""`az aitk-infer logs`: the app's console log, so a user sees why a replica does not start."""
import sys

from azure.cli.core.azclierror import InvalidArgumentValueError

from .container_app import App


def print_logs(cli_ctx, workspace, follow=False, tail=20, out=None):
    if tail is not None and not 0 <= tail <= 300:
        raise InvalidArgumentValueError(f"--tail {tail}: must be between 0 and 300 (the log "
                                        "stream's limit)")
    subscription, group, app = workspace.read_config().require(
        "SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "ACA_APP_NAME")
    from azure.core.exceptions import HttpResponseError

    from .arm_errors import arm_error
    out = out or sys.stdout
    try:
        for line in App(cli_ctx, subscription, group, app).log_lines(follow=follow, tail=tail):
            print(line, file=out, flush=True)
    except HttpResponseError as ex:
        raise arm_error(f"Reading the log of '{app}'", ex) from None
