"""Staff override: force one side for a request, for testing in production.

The header ``settings.override_header`` or the cookie ``settings.override_cookie``
carries ``<side>:<hmac>``, where hmac is HMAC-SHA256(override_secret, side) in
hex. Without a configured secret, or with a wrong or malformed value, the
override is ignored (and logged): it never changes routing by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Literal

log = logging.getLogger("gateway.override")

ForcedSide = Literal["legacy", "new"]
SIDES: tuple[ForcedSide, ...] = ("legacy", "new")


def sign_override(secret: str, side: ForcedSide) -> str:
    """The value staff put in the override header or cookie to force ``side``."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    mac = hmac.new(secret.encode(), f"gateway-override:{side}".encode(), hashlib.sha256)
    return f"{side}:{mac.hexdigest()}"


class Override:
    """Checks override values against one secret; precomputes the two valid values."""

    def __init__(self, secret: str | None) -> None:
        self.enabled = bool(secret)
        self._valid: dict[str, ForcedSide] = (
            {sign_override(secret, side): side for side in SIDES} if secret else {}
        )

    def check(self, value: str | None) -> ForcedSide | None:
        """The forced side for a presented value, or None (logged when rejected)."""
        if value is None:
            return None
        for candidate, side in self._valid.items():
            if hmac.compare_digest(candidate.encode(), value.encode("utf-8", "replace")):
                return side
        log.warning(
            "ignored gateway override %r: %s",
            value[:40],
            "wrong signature" if self.enabled else "no override_secret configured",
        )
        return None
