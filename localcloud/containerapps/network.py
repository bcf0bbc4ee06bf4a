"""What a replica can reach: loopback (the guard every localcloud process has) and, as a container
reaches PyPI over its outbound internet, the package index this machine's pip uses, so pip inside a
replica installs. Everything else still meets the guard proxy (a closed loopback port)."""

from __future__ import annotations

import functools
import subprocess
import sys
from urllib.parse import urlparse

from localcloud.guard import NO_PROXY, guard_environment

# pip's default index and where it serves files from (pip's PyPI defaults).
PYPI_HOSTS = ("pypi.org", "files.pythonhosted.org")


@functools.cache
def package_index_hosts() -> tuple[str, ...]:
    """PyPI's hosts plus any http(s) index the machine's pip configuration names (`pip config list`).

    Local indexes (file://, find-links folders) need no network and stay reachable as files."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60
    ).stdout
    hosts = list(PYPI_HOSTS)
    for line in listed.splitlines():
        name, _, value = line.partition("=")
        if name.split(".")[-1] in ("index-url", "extra-index-url"):
            for url in value.strip("'\"").split():
                host = urlparse(url).hostname
                if urlparse(url).scheme in ("http", "https") and host and host not in hosts:
                    hosts.append(host)
    return tuple(hosts)


def replica_network_environment() -> dict[str, str]:
    """The proxy variables of a replica: the guard, with the package index hosts let through."""
    no_proxy = ",".join([NO_PROXY, *package_index_hosts()])
    return {k: no_proxy if k.lower() == "no_proxy" else v for k, v in guard_environment().items()}
