"""Errors a user of flask_compat can cause, each with a message saying what to do next."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.routing import BuildError


class FlaskCompatError(Exception):
    """Base class of every error flask_compat raises on purpose."""


class NotAFlaskApp(FlaskCompatError, TypeError):
    """``FlaskCompat(...)`` was given something that is not a ``flask.Flask`` app."""


class AlreadyInstalled(FlaskCompatError):
    """``install()`` ran twice on one FastAPI app (the second would shadow the first)."""


class NotInstalled(FlaskCompatError):
    """A flask_compat function ran for a FastAPI app that never had ``install()`` run on it."""


class OutsideRequest(FlaskCompatError, RuntimeError):
    """A request-bound name (``g``, the template ``url_for``) was used outside a request."""


class ContextProcessorError(FlaskCompatError):
    """One of the Flask app's context processors failed while rendering from FastAPI."""


class UrlBuildError(FlaskCompatError, BuildError):
    """``url_for`` found no route to build, in the FastAPI app nor in the Flask ``url_map``.

    A ``werkzeug.routing.BuildError``, so code that catches Flask's error
    catches this one too.
    """

    def __init__(
        self,
        endpoint: str,
        values: Mapping[str, Any],
        method: str | None,
        *,
        new_reason: str,
        legacy_reason: str,
        known: bool,
    ) -> None:
        # No adapter: BuildError's close-match suggestion looks at one map; this names both.
        super().__init__(endpoint, dict(values), method, None)
        self.new_reason = new_reason
        self.legacy_reason = legacy_reason
        self.known = known

    def __str__(self) -> str:
        given = ", ".join(f"{key}={value!r}" for key, value in self.values.items())
        advice = (
            "Pass the values its rule needs."
            if self.known
            else f"Name the FastAPI route after the Flask endpoint (name={self.endpoint!r}) "
            "or check the spelling."
        )
        return (
            f"url_for({self.endpoint!r}{', ' if given else ''}{given}) cannot build a URL: "
            f"{self.new_reason}, and {self.legacy_reason}. {advice}"
        )
