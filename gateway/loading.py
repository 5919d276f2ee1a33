"""Load the legacy and new web apps from import strings.

An import string is ``package.module:attr`` (an object), ``package.module:attr.sub``
(an attribute path) or ``package.module:factory()`` (called with no arguments).
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from werkzeug.routing import Map

from gateway.sourceroots import SourceRootError, load_from_root


class AppLoadError(Exception):
    """An import string that does not lead to a usable app; the message says why."""


def load_object(import_string: str, source_root: Path | str | None = None) -> Any:
    """Import and return what ``import_string`` names, calling it if it ends in ``()``.

    With ``source_root``, the import starts from that directory and the
    modules it owns are kept apart from other apps' (gateway/sourceroots.py).
    Raises AppLoadError when the string is malformed, the root is not a
    directory, the module cannot be imported, the attribute is missing or the
    factory raises.
    """
    if source_root is not None:
        try:
            return load_from_root(source_root, lambda: load_object(import_string))
        except SourceRootError as exc:
            raise AppLoadError(str(exc)) from exc
    module_name, sep, attr_path = import_string.strip().partition(":")
    call = attr_path.endswith("()")
    if call:
        attr_path = attr_path[:-2]
    if not sep or not module_name or not attr_path:
        raise AppLoadError(
            f"import string {import_string!r} must look like 'package.module:app' "
            "or 'package.module:create_app()'"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Tell "your string is wrong" apart from "the module's own imports are broken".
        if exc.name and module_name.startswith(exc.name):
            raise AppLoadError(
                f"module {module_name!r} not found (from {import_string!r}); check the "
                "import string and that the package is installed or on PYTHONPATH"
            ) from exc
        raise AppLoadError(f"importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:
        raise AppLoadError(f"importing {module_name!r} raised {type(exc).__name__}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(
                f"{module_name!r} has no attribute {attr_path!r} (from {import_string!r})"
            ) from None
    if call:
        if not callable(obj):
            raise AppLoadError(f"{import_string!r}: {attr_path!r} is not callable")
        try:
            obj = obj()
        except Exception as exc:
            raise AppLoadError(
                f"factory {import_string!r} raised {type(exc).__name__}: {exc}"
            ) from exc
    return obj


def is_wsgi_flask_app(obj: object) -> bool:
    """True for Flask (or any WSGI app carrying a Werkzeug ``url_map``)."""
    return isinstance(getattr(obj, "url_map", None), Map) and callable(obj)


def load_flask_app(import_string: str, source_root: Path | str | None = None) -> Any:
    """Load the legacy app: a Flask app (a WSGI callable with a Werkzeug ``url_map``).

    Raises AppLoadError if loading fails or the object is not such an app.
    """
    app = load_object(import_string, source_root)
    if not is_wsgi_flask_app(app):
        raise AppLoadError(
            f"{import_string!r} gave {type(app).__name__}, not a Flask app "
            "(expected a WSGI callable with a werkzeug url_map)"
            + ("" if import_string.strip().endswith("()") else "; for a factory add '()'")
        )
    return app


def load_asgi_app(import_string: str, source_root: Path | str | None = None) -> Any:
    """Load the new app: an ASGI callable, usually FastAPI or Starlette.

    Raises AppLoadError if loading fails, the object is a Flask/WSGI app, or it
    is not callable with (scope, receive, send).
    """
    app = load_object(import_string, source_root)
    if is_wsgi_flask_app(app):
        raise AppLoadError(f"{import_string!r} is a Flask (WSGI) app; the new app must be ASGI")
    if not callable(app):
        raise AppLoadError(
            f"{import_string!r} gave {type(app).__name__}, not an ASGI app; "
            "for a factory add '()' at the end"
        )
    target = app if inspect.isroutine(app) else type(app).__call__
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return app  # a builtin or C callable: nothing to inspect, trust it
    positional = [
        p
        for p in params
        if p.name != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) < 3 and not any(p.kind is p.VAR_POSITIONAL for p in params):
        raise AppLoadError(
            f"{import_string!r} is not an ASGI app (it must accept scope, receive, send); "
            "if it is a factory, add '()' at the end"
        )
    return app
