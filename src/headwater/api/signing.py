"""Expiring links to one artifact: an HMAC-SHA256 over the artifact's path and the expiry
time, keyed by the server's secret (the `api_secret` setting; without one, a random
secret generated once and kept in the project's state folder, readable by its owner only).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import uuid
from pathlib import Path

from headwater.config import STATE_DIR, Settings

SECRET_FILE = "api-secret"
SECRET_BYTES = 32


class BadSignature(Exception):
    """The link is not one this server made (or the secret changed since)."""


class LinkExpired(Exception):
    """The link was made by this server but its time is up."""


def load_secret(settings: Settings | None) -> bytes:
    """The configured secret, else the one kept in `.headwater/api-secret` (made on
    first use, so links stay valid across restarts), else — no project — a fresh one."""
    if settings is None:
        return secrets.token_bytes(SECRET_BYTES)
    if settings.api_secret:
        return settings.api_secret.encode()
    return _stored_secret(Path(settings.project_dir, STATE_DIR, SECRET_FILE))


def _stored_secret(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole under a temporary name, then linked into place: of several servers
    # starting at once, exactly one secret wins and nobody reads a half-written file.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(SECRET_BYTES))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes().strip()


def sign(secret: bytes, path: str, expires: int) -> str:
    message = f"{path}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify(
    secret: bytes, path: str, expires: int, signature: str, now: float | None = None
) -> None:
    """Raise BadSignature or LinkExpired unless the signature is this server's for this
    path and expiry, and the expiry has not passed. The signature is checked first, so
    an expired forgery is reported as a forgery."""
    # Bytes: compare_digest refuses str with non-ASCII characters, which anyone may send.
    if not hmac.compare_digest(sign(secret, path, expires).encode(), signature.encode()):
        raise BadSignature
    if (time.time() if now is None else now) >= expires:
        raise LinkExpired
