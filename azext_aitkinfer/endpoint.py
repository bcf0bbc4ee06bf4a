"""`az aitk-infer show-endpoint`: the app's https endpoint from the project config."""


def endpoint_url(value):
    """ACA_APP_ENDPOINT is a bare FQDN (as the AI Toolkit writes it); keep a scheme if one is given."""
    value = value.strip().rstrip("/")
    return value if "://" in value else f"https://{value}"


def show_endpoint(workspace):
    config = workspace.read_config()
    (fqdn,) = config.require("ACA_APP_ENDPOINT")
    return {"endpoint": endpoint_url(fqdn), "app": config.get("ACA_APP_NAME"),
            "resourceGroup": config.get("RESOURCE_GROUP_NAME"),
            "subscription": config.get("SUBSCRIPTION_ID")}
