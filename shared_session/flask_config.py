"""Flask's own session settings, checked against ``SessionSettings``.

Flask's cookie session reads ``SESSION_COOKIE_*``, ``APPLICATION_ROOT``,
``PERMANENT_SESSION_LIFETIME`` and ``SESSION_REFRESH_EACH_REQUEST`` from
``app.config``. The shared session takes its cookie and lifetimes from
``SessionSettings`` instead, because the ASGI side has no Flask config to
read. So that no Flask setting is silently ignored, each one the app set to
something other than Flask's default must agree with the settings; otherwise
``install_flask_session`` stops with a SessionConfigError naming the Flask
setting, its value, the SessionSettings field and its environment variable.
A value equal to Flask's default is not a choice the app made: it is never
an error. The table is in docs/shared-session.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared_session.errors import SessionConfigError
from shared_session.settings import SessionSettings

# Flask 3.1's defaults (flask.Flask.default_config) for the settings checked.
FLASK_DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_NAME": "session",
    "SESSION_COOKIE_DOMAIN": None,
    "SESSION_COOKIE_PATH": None,
    "APPLICATION_ROOT": "/",
    "SESSION_COOKIE_SECURE": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": None,
    "SESSION_COOKIE_PARTITIONED": False,
    "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
    "SESSION_REFRESH_EACH_REQUEST": True,
}


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One Flask setting that the shared session would not honour as set."""

    flask_setting: str
    flask_value: Any
    field: str  # the SessionSettings field it disagrees with, "" if none
    field_value: Any
    fix: str

    def __str__(self) -> str:
        if not self.field:
            return f"{self.flask_setting}={self.flask_value!r}: {self.fix}"
        return (
            f"{self.flask_setting}={self.flask_value!r} disagrees with SessionSettings."
            f"{self.field}={self.field_value!r} (env {env_var(self.field)}): {self.fix}"
        )


def env_var(field: str) -> str:
    """The environment variable that sets a SessionSettings field."""
    prefix = SessionSettings.model_config.get("env_prefix") or ""
    return f"{prefix}{field}".upper()


def _is_default(config: Mapping[str, Any], name: str) -> bool:
    return name not in config or config[name] == FLASK_DEFAULTS[name]


def _seconds(value: Any) -> int | None:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)  # Flask accepts seconds as a number, too
    return None


def _name(config: Mapping[str, Any], s: SessionSettings) -> list[Disagreement]:
    name = "SESSION_COOKIE_NAME"
    value = config.get(name)
    if _is_default(config, name) or value == s.cookie_name:
        return []
    if s.takeover_flask:
        if value == s.flask_cookie_name:
            return []
        return [
            Disagreement(
                name,
                value,
                "flask_cookie_name",
                s.flask_cookie_name,
                f"the Flask cookie sessions browsers carry would not be taken over; set "
                f"{env_var('flask_cookie_name')}={value} (the shared cookie itself is "
                f"cookie_name={s.cookie_name!r})",
            )
        ]
    return [
        Disagreement(
            name,
            value,
            "cookie_name",
            s.cookie_name,
            f"set {env_var('cookie_name')}={value} to name the shared cookie so, or remove "
            f"{name} from the Flask config",
        )
    ]


def _domain(config: Mapping[str, Any], s: SessionSettings) -> list[Disagreement]:
    name = "SESSION_COOKIE_DOMAIN"
    value = config.get(name) or None  # Flask sends no Domain for any false value
    if value is None or str(value).lstrip(".") == (s.cookie_domain or "").lstrip("."):
        return []
    return [
        Disagreement(
            name,
            value,
            "cookie_domain",
            s.cookie_domain,
            f"set {env_var('cookie_domain')}={value} so both sides send Domain={value}",
        )
    ]


def _path(config: Mapping[str, Any], s: SessionSettings) -> list[Disagreement]:
    # Flask: SESSION_COOKIE_PATH, or else APPLICATION_ROOT.
    name = "SESSION_COOKIE_PATH" if config.get("SESSION_COOKIE_PATH") else "APPLICATION_ROOT"
    value = config.get(name) or "/"
    if value in ("/", s.cookie_path):
        return []
    return [
        Disagreement(
            name,
            value,
            "cookie_path",
            s.cookie_path,
            f"set {env_var('cookie_path')}={value} so both sides send Path={value}",
        )
    ]


def _secure(config: Mapping[str, Any], s: SessionSettings) -> list[Disagreement]:
    name = "SESSION_COOKIE_SECURE"
    if _is_default(config, name) or not config[name] or s.cookie_secure is True:
        return []
    return [
        Disagreement(
            name,
            config[name],
            "cookie_secure",
            s.cookie_secure,
            f"set {env_var('cookie_secure')}=true so both sides always send Secure "
            "(unset, it is sent on https requests only)",
        )
    ]


def _httponly(config: Mapping[str, Any], s: SessionSettings) -> list[Disagreement]:
    name = "SESSION_COOKIE_HTTPONLY"
    if _is_default(config, name) or bool(config[name]) == s.cookie_httponly:
        return []
    return [
        Disagreement(
            name,
            config[name],
            "cookie_httponly",
            s.cookie_httponly,
            f"set {env_var('cookie_httponly')}={str(bool(config[name])).lower()} so both "
            "sides agree, or remove it from the Flask config",
        )
    ]


def _samesite(config: Mapping[str, Any], s: SessionSettings) -> list[Disagreement]:
    name = "SESSION_COOKIE_SAMESITE"
    value = config.get(name)
    if value is None:
        return []
    normalized = str(value).lower()
    if normalized not in ("lax", "strict", "none"):
        return [
            Disagreement(name, value, "", None, "use 'Lax', 'Strict', 'None' or None (Flask's)")
        ]
    if normalized == s.cookie_samesite:
        return []
    return [
        Disagreement(
            name,
            value,
            "cookie_samesite",
            s.cookie_samesite,
            f"set {env_var('cookie_samesite')}={normalized} so both sides send "
            f"SameSite={normalized.capitalize()}",
        )
    ]


def _partitioned(config: Mapping[str, Any], s: SessionSettings) -> list[Disagreement]:
    name = "SESSION_COOKIE_PARTITIONED"
    if _is_default(config, name) or bool(config[name]) == s.cookie_partitioned:
        return []
    return [
        Disagreement(
            name,
            config[name],
            "cookie_partitioned",
            s.cookie_partitioned,
            f"set {env_var('cookie_partitioned')}={str(bool(config[name])).lower()} so "
            "both sides agree",
        )
    ]


def _lifetime(config: Mapping[str, Any], s: SessionSettings) -> list[Disagreement]:
    # With SESSION_REFRESH_EACH_REQUEST (Flask's default) a permanent Flask
    # session lasts until it goes unused this long: the shared idle timeout.
    name = "PERMANENT_SESSION_LIFETIME"
    if _is_default(config, name):
        return []
    value = config[name]
    seconds = _seconds(value)
    if seconds is None or seconds <= 0:
        return [Disagreement(name, value, "", None, "use a positive timedelta or int seconds")]
    found = []
    if seconds != s.idle_timeout:
        found.append(
            Disagreement(
                name,
                value,
                "idle_timeout",
                s.idle_timeout,
                f"a session unused this long ends, as in Flask; set "
                f"{env_var('idle_timeout')}={seconds}",
            )
        )
    if s.takeover_flask and s.flask_max_age > seconds:
        found.append(
            Disagreement(
                name,
                value,
                "flask_max_age",
                s.flask_max_age,
                "Flask rejects its own cookies older than this; takeover would accept "
                f"them: set {env_var('flask_max_age')}={seconds}",
            )
        )
    if seconds > s.absolute_lifetime:
        found.append(
            Disagreement(
                name,
                value,
                "absolute_lifetime",
                s.absolute_lifetime,
                f"every session would end sooner than Flask's would; set "
                f"{env_var('absolute_lifetime')} to at least {seconds}",
            )
        )
    return found


def _refresh(config: Mapping[str, Any], s: SessionSettings) -> list[Disagreement]:
    name = "SESSION_REFRESH_EACH_REQUEST"
    if _is_default(config, name) or config[name]:
        return []
    return [
        Disagreement(
            name,
            config[name],
            "",
            None,
            "no SessionSettings equivalent: the shared session always slides its idle "
            f"timeout (idle_timeout, {env_var('idle_timeout')}) on use, server-side, and "
            "never re-sends an unchanged cookie; remove the setting",
        )
    ]


CHECKS: tuple[Callable[[Mapping[str, Any], SessionSettings], list[Disagreement]], ...] = (
    _name,
    _domain,
    _path,
    _secure,
    _httponly,
    _samesite,
    _partitioned,
    _lifetime,
    _refresh,
)


def disagreements(config: Mapping[str, Any], settings: SessionSettings) -> list[Disagreement]:
    """Every Flask session setting in ``config`` that ``settings`` would not honour."""
    return [found for check in CHECKS for found in check(config, settings)]


def check_flask_config(config: Mapping[str, Any], settings: SessionSettings) -> None:
    """Raise SessionConfigError listing each disagreement; return if there is none."""
    found = disagreements(config, settings)
    if found:
        lines = "\n".join(f"- {item}" for item in found)
        raise SessionConfigError(
            "Flask session settings disagree with SessionSettings (the shared session "
            "takes its cookie and lifetimes from SessionSettings on both sides):\n" + lines
        )
