"""The guard that keeps every process of the local cloud on this machine: all proxies point at a
closed loopback port, so any request not to loopback fails at once instead of leaving."""

GUARD_PROXY = "http://127.0.0.1:9"
NO_PROXY = "127.0.0.1,localhost"
GUARD_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


def guard_environment() -> dict[str, str]:
    return {name: NO_PROXY if name.lower() == "no_proxy" else GUARD_PROXY for name in GUARD_VARIABLES}
