"""`az aitk-infer logs`: the app's console log, so a user sees why a replica does not start."""
import sys
from dataclasses import dataclass

from azure.cli.core.azclierror import InvalidArgumentValueError

from .arm_errors import arm_errors
from .container_app import App
from .subscription import check_subscription


@dataclass
class LogsRequest:
    follow: bool = False
    tail: int = 20


def print_logs(cmd, workspace, request, out=None):
    if request.tail is not None and not 0 <= request.tail <= 300:
        raise InvalidArgumentValueError(f"--tail {request.tail}: must be between 0 and 300 (the log "
                                        "stream's limit)")
    config = workspace.read_config()
    subscription, group, app = config.require("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME", "ACA_APP_NAME")
    check_subscription(cmd.cli_ctx, subscription, config.path)
    out = out or sys.stdout
    with arm_errors(f"Reading the log of '{app}'"):
        for line in App(cmd.cli_ctx, subscription, group, app).log_lines(follow=request.follow,
                                                                         tail=request.tail):
            print(line, file=out, flush=True)
