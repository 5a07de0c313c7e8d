"""TLS material made in the test with trustme: a trusted CA and its certificates, an untrusted CA,
an expired certificate, one for the wrong host name.

``tls`` (session-scoped) holds SSL contexts ready to use and PEM files for
processes that load their own (``python -m wsfast serve --certfile``):

    tls.server_context(kind)   kind: "trusted" (127.0.0.1, ::1, localhost), "untrusted" (signed by
                               a CA the clients do not know), "expired", "wrong_host" (example.org)
    tls.client_context()       trusts the trusted CA only (verifies the host name)
    tls.files(kind)            (certfile, keyfile) paths for that server certificate
"""

from __future__ import annotations

import datetime
import ssl
from typing import Dict, Iterator, Tuple

import pytest

SERVER_NAMES = ("127.0.0.1", "::1", "localhost")
KINDS = ("trusted", "untrusted", "expired", "wrong_host")


class TLSMaterial:
    def __init__(self, directory) -> None:
        trustme = pytest.importorskip("trustme", reason="TLS tests need trustme (the test extra)")
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()  # nobody trusts this one
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certs = {
            "trusted": self.ca.issue_cert(*SERVER_NAMES),
            "untrusted": self.other_ca.issue_cert(*SERVER_NAMES),
            "expired": self.ca.issue_cert(*SERVER_NAMES, not_before=now - datetime.timedelta(days=30),
                                          not_after=now - datetime.timedelta(days=1)),
            "wrong_host": self.ca.issue_cert("example.org"),
        }
        self._files: Dict[str, Tuple[str, str]] = {}
        for kind, cert in self.certs.items():
            certfile, keyfile = directory / f"{kind}.pem", directory / f"{kind}.key"
            cert.cert_chain_pems[0].write_to_path(str(certfile))
            for pem in cert.cert_chain_pems[1:]:
                pem.write_to_path(str(certfile), append=True)
            cert.private_key_pem.write_to_path(str(keyfile))
            self._files[kind] = (str(certfile), str(keyfile))
        self.ca_file = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def server_context(self, kind: str = "trusted") -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.certs[kind].configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(context)
        return context

    def files(self, kind: str = "trusted") -> Tuple[str, str]:
        return self._files[kind]


@pytest.fixture(scope="session")
def tls(tmp_path_factory) -> Iterator[TLSMaterial]:
    yield TLSMaterial(tmp_path_factory.mktemp("tls"))
