"""The legacy Flask 3 application, as a team would have written it.

Import string for servers and the gateway: ``legacy_flask:create_app()``.
"""

from legacy_flask.app import create_app

__all__ = ["create_app"]
