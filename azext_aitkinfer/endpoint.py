"""`az aitk-infer show-endpoint`: the app's https endpoint, from the config or (--live) from ARM."""
from dataclasses import dataclass

from knack.log import get_logger

logger = get_logger(__name__)


def endpoint_url(value):
    """ACA_APP_ENDPOINT is a bare FQDN (as the AI Toolkit writes it); keep a scheme if one is given."""
    value = value.strip().rstrip("/")
    return value if "://" in value or not value else f"https://{value}"


def probe_ready(url, timeout=5.0, with_body=False):
    """(ready, detail[, JSON body]) from the server's /ready; failing to connect is not ready."""
    import requests
    body = None
    try:
        response = requests.get(f"{url}/ready", timeout=timeout)
        ready, detail = response.status_code == 200, f"HTTP {response.status_code}"
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
    except (requests.RequestException, ValueError) as ex:
        ready, detail = False, type(ex).__name__
    return (ready, detail, body) if with_body else (ready, detail)


def live_state(cli_ctx, subscription, group, app_name):
    """The app's current FQDN and its latest revision's state, straight from ARM."""
    from .container_app import App
    app = App(cli_ctx, subscription, group, app_name)
    resource = app.get()
    ingress = resource.configuration.ingress if resource.configuration else None
    revision = resource.latest_revision_name
    return {"fqdn": ingress.fqdn if ingress else None, "latestRevision": revision,
            **(app.revision_state(revision) if revision else {})}


@dataclass
class ShowEndpointRequest:
    live: bool = False


def show_endpoint(cmd, workspace, request):
    config = workspace.read_config()
    if not request.live:
        (fqdn,) = config.require("ACA_APP_ENDPOINT")
    else:
        from .arm_errors import arm_errors
        from .subscription import check_subscription
        subscription, group, app = config.require("SUBSCRIPTION_ID", "RESOURCE_GROUP_NAME",
                                                  "ACA_APP_NAME")
        check_subscription(cmd.cli_ctx, subscription, config.path)
        with arm_errors(f"Reading container app '{app}'"):
            state = live_state(cmd.cli_ctx, subscription, group, app)
        fqdn = state["fqdn"]
        if fqdn and fqdn != config.get("ACA_APP_ENDPOINT"):
            logger.warning("The app's FQDN moved to %s; updated %s", fqdn, config.path)
            config = workspace.write_config({"ACA_APP_ENDPOINT": fqdn})
    result = {"endpoint": endpoint_url(fqdn or ""), "app": config.get("ACA_APP_NAME"),
              "resourceGroup": config.get("RESOURCE_GROUP_NAME"),
              "subscription": config.get("SUBSCRIPTION_ID")}
    if request.live:
        ready, detail = probe_ready(result["endpoint"]) if fqdn else (False, "no ingress FQDN")
        result.update(state, ready=ready, readyProbe=detail)
    return result
