"""The small plain-text answers backends give on their own (413, 502, 504)."""

from __future__ import annotations

from starlette.types import Send


async def plain_response(send: Send, status: int, text: bytes) -> None:
    """Send a complete text/plain response."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})
