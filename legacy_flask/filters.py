"""Jinja filters used by the templates of both apps, registered in one place."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment


def to_pretty_json(value: Any) -> str:
    """Render ``value`` as indented JSON with sorted keys (non-JSON types via ``str``)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


FILTERS = {"to_pretty_json": to_pretty_json}


def register_filters(env: Environment) -> None:
    """Add every filter of the app to ``env`` (Flask's ``app.jinja_env`` or FastAPI's)."""
    env.filters.update(FILTERS)
