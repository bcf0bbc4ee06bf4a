"""az's global --subscription against the project's config: commands that act on the app the
config names use the config's subscription, and a --subscription naming another one stops them."""
from azure.cli.core.azclierror import InvalidArgumentValueError


def check_subscription(cli_ctx, configured, config_path):
    """Raise unless --subscription is absent or names the config's subscription (by id or name)."""
    given = cli_ctx.data.get("subscription_id")
    if not given or given.lower() == configured.lower():
        return
    from azure.cli.core._profile import Profile
    from knack.util import CLIError
    try:
        resolved = Profile(cli_ctx=cli_ctx).get_subscription(given)["id"]
    except CLIError:
        resolved = None
    if resolved and resolved.lower() == configured.lower():
        return
    known = f"subscription {resolved}" if resolved else "no subscription of this login"
    raise InvalidArgumentValueError(
        f"--subscription {given}: names {known}, but the app is in {configured} ({config_path}). "
        "Fix: drop --subscription, or run the command in the project provisioned there")
