"""A private CA and a server certificate for 127.0.0.1 and localhost, made once per state directory (trustme).

The files stay in the state directory, so the CA that DIR/env names (REQUESTS_CA_BUNDLE) keeps
verifying the server across stop/start.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_cert))


def ensure_tls(directory: Path) -> TlsFiles:
    """Create (once) a CA and a server certificate valid for 127.0.0.1 and localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    if files.ca_cert.exists() and files.server_cert.exists() and files.server_key.exists():
        return files
    ca = trustme.CA(organization_name="localcloud test CA")
    server = ca.issue_cert("127.0.0.1", "localhost")
    # The key first, private from the start; the CA key is not kept: nothing else is ever signed with it.
    files.server_key.touch(mode=0o600)
    server.private_key_pem.write_to_path(str(files.server_key))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    ca.cert_pem.write_to_path(str(files.ca_cert))
    return files
