"""The same application as ``legacy_flask``, ported to FastAPI.

Import string for servers and the gateway: ``new_fastapi:create_app()``.
"""

from new_fastapi.app import create_app

__all__ = ["create_app"]
