"""HMAC-SHA256 signatures of HTTP bodies, for webhooks both ways: notifications headwater
sends carry one, and webhook triggers it receives must carry one.

The header value is ``sha256=<hex digest of the body keyed by the secret>`` (the form
GitHub uses), so receivers can verify with a few lines in any language.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Headwater-Signature"
_PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The signature header value for `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signature_matches(secret: str, body: bytes, header: str) -> bool:
    """True if `header` is the signature of `body` under `secret` (constant-time)."""
    return hmac.compare_digest(sign(secret, body), header.strip())
