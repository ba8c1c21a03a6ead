"""A throwaway self-signed certificate for 127.0.0.1, so the upstream can be served over TLS.

Real upstreams are reached over TLS, where a new connection costs a handshake: that is what a
session per request pays on every call. The proxies trust the certificate via SSL_CERT_FILE.
"""

import shutil
import subprocess
from pathlib import Path


def make_certificate(folder: Path) -> tuple[Path, Path] | None:
    """Write `cert.pem` and `key.pem` (P-256, a day, IP 127.0.0.1) into `folder` with openssl.

    Returns their paths, or None when openssl is missing or fails.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt"]
    command += ["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    result = subprocess.run(command, capture_output=True, check=False)  # noqa: S603 - fixed
    if result.returncode != 0:
        return None
    return cert, key
