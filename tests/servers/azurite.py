"""An Azure Blob Storage server of the suite's own: Azurite (npm package, see package.json), in memory.

Azurite serves the well-known development account ``devstoreaccount1`` with its published key
(https://learn.microsoft.com/en-us/azure/storage/common/storage-use-azurite#http-connection-strings)
and checks Shared Key signatures and SAS tokens like Azure does. Its URLs are path-style:
``http://127.0.0.1:<port>/devstoreaccount1/<container>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.servers.common import ServerProcess, free_port, make_workdir

ROOT = Path(__file__).resolve().parents[2]
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"

ACCOUNT = "devstoreaccount1"
# Azurite's published development key: not a secret, the same in every Azurite.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class AzuriteServer(ServerProcess):

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{ACCOUNT}"

    def connection_string(self, key: str = ACCOUNT_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def start(self) -> AzuriteServer:
        if not AZURITE_BLOB.exists():
            raise RuntimeError(f"{AZURITE_BLOB} is missing: run 'npm install' (scripts/setup.sh does)")
        self.port = self.port or free_port()
        self.workdir = make_workdir("azurite")
        self.spawn(
            [
                str(AZURITE_BLOB),
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--inMemoryPersistence",
                "--silent",
                # Read the account from the path whatever the host name (tests pin names to 127.0.0.1).
                "--disableProductStyleUrl",
                "--blobHost", self.host,
                "--blobPort", str(self.port),
            ],
            cwd=self.workdir,
        )
        return self


def start_world(container: str = "wizard-container", blobs: dict[str, bytes] | None = None) -> AzuriteServer:
    """An Azurite server with a container holding ``blobs``."""
    from azure.storage.blob import BlobServiceClient

    server = AzuriteServer().start()
    try:
        with BlobServiceClient.from_connection_string(server.connection_string()) as service:
            client = service.create_container(container)
            for name, content in (blobs or {"exports/data.csv": b"id\n1\n"}).items():
                client.upload_blob(name, content)
    except BaseException:
        server.stop()
        raise
    return server
