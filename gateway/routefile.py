"""The legacy route table as a file, so an upstream gateway never imports the Flask app.

``export_map(flask_app.url_map)`` (``migrate-gateway export-routes``, run where
the legacy app lives) writes every rule with its methods, endpoint,
converters, arguments, defaults, subdomain and options, and the map's own
options. ``load_map(data)`` (``GATEWAY_LEGACY_ROUTES_FILE``) rebuilds a
Werkzeug ``Map`` from it: Werkzeug's own converters by name, and the app's
custom converters as converters with the exported regex, weight and
part-isolation, so the rebuilt map matches exactly the paths the app's
matches, in the same order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.routing.rules import parse_converter_args

FORMAT = "migrate-gateway.routes/1"
_VARIABLE = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<arguments>.*?)\))?:)?"
    r"(?P<variable>[a-zA-Z_][a-zA-Z0-9_]*)>"
)
_RULE_OPTIONS = ("strict_slashes", "merge_slashes", "alias", "build_only", "websocket")
_MAP_OPTIONS = (
    "strict_slashes",
    "merge_slashes",
    "redirect_defaults",
    "default_subdomain",
    "host_matching",
)


class RouteFileError(Exception):
    """A routes file that cannot be read or rebuilt; the message says what to do."""


def _is_builtin(name: str, converter: type) -> bool:
    return Map.default_converters.get(name) is converter


def _json_value(value: Any, where: str) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise RouteFileError(
            f"{where}: {value!r} is not JSON; the routes file cannot carry it"
        ) from None
    return value


def _converter_key(arguments: str | None) -> str:
    args, kwargs = parse_converter_args(arguments) if arguments else ((), {})
    return json.dumps([list(args), sorted(kwargs.items())], default=str)


def export_map(url_map: Map) -> dict[str, Any]:
    """The map as JSON-ready data. Raises RouteFileError for what a file cannot carry
    (a callable ``redirect_to``, defaults that are not JSON)."""
    converters: dict[str, dict[str, Any]] = {}
    rules = []
    for rule in url_map.iter_rules():
        where = f"rule {rule.rule!r} ({rule.endpoint})"
        if rule.redirect_to is not None and not isinstance(rule.redirect_to, str):
            raise RouteFileError(f"{where}: redirect_to is a function; make it a string rule")
        variables = {}
        for match in _VARIABLE.finditer(rule.rule):
            name = match.group("converter") or "default"
            variable = match.group("variable")
            instance = rule._converters[variable]
            variables[variable] = {"converter": name, "regex": instance.regex}
            if not _is_builtin(name, url_map.converters[name]):
                entry = converters.setdefault(name, {"instances": {}})
                entry["instances"][_converter_key(match.group("arguments"))] = {
                    "regex": instance.regex,
                    "weight": instance.weight,
                    "part_isolating": instance.part_isolating,
                }
        rules.append(
            {
                "rule": rule.rule,
                "endpoint": _json_value(rule.endpoint, where),
                "methods": sorted(rule.methods) if rule.methods is not None else None,
                "arguments": sorted(rule.arguments),
                "converters": variables,
                "defaults": _json_value(rule.defaults, where),
                "subdomain": rule.subdomain,
                "host": rule.host,
                "redirect_to": rule.redirect_to,
                **{option: getattr(rule, option) for option in _RULE_OPTIONS},
            }
        )
    return {
        "format": FORMAT,
        "map": {option: getattr(url_map, option) for option in _MAP_OPTIONS},
        "converters": converters,
        "rules": rules,
    }


def _custom_converter(name: str, instances: dict[str, dict[str, Any]]) -> type[BaseConverter]:
    """A converter that takes the app's arguments and matches with the exported regex."""

    class Exported(BaseConverter):
        def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
            super().__init__(map)
            key = json.dumps([list(args), sorted(kwargs.items())], default=str)
            found = instances.get(key)
            if found is None:
                raise RouteFileError(f"converter {name!r}: no exported instance for {key}")
            self.regex = found["regex"]
            self.weight = found["weight"]
            self.part_isolating = found["part_isolating"]

    Exported.__name__ = f"Exported_{name}"
    return Exported


def load_map(data: Any) -> Map:
    """Rebuild the Werkzeug Map; raises RouteFileError for data of another format."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RouteFileError(
            f"not a routes file of format {FORMAT!r}; write one with "
            "`migrate-gateway export-routes --app 'yourapp:create_app()' -o routes.json`"
        )
    try:
        converters = {
            name: _custom_converter(name, spec["instances"])
            for name, spec in data["converters"].items()
        }
        rules = [
            Rule(
                entry["rule"],
                endpoint=entry["endpoint"],
                methods=entry["methods"],
                defaults=entry["defaults"],
                subdomain=entry["subdomain"],
                host=entry["host"],
                redirect_to=entry["redirect_to"],
                **{option: entry[option] for option in _RULE_OPTIONS},
            )
            for entry in data["rules"]
        ]
        url_map = Map(rules, converters=converters, **data["map"])
        url_map.update()
    except (KeyError, TypeError, ValueError) as exc:
        raise RouteFileError(f"routes file is damaged: {type(exc).__name__}: {exc}") from exc
    return url_map


def read_routes_file(path: Path | str) -> Map:
    """Read and rebuild a routes file; raises RouteFileError naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RouteFileError(f"cannot read routes file {str(path)!r}: {exc}") from exc
    except ValueError as exc:
        raise RouteFileError(f"routes file {str(path)!r} is not JSON: {exc}") from exc
    try:
        return load_map(data)
    except RouteFileError as exc:
        raise RouteFileError(f"{path}: {exc}") from exc
