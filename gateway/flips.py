"""What may be flipped: the rules of the route table, kept next to it.

Pure functions over a RouteTable and the Groups: which legacy endpoints a
flip of a key moves, which of them the new app does not implement yet, the
table as printable rows, and the start-up check of configured flags and
groups. The admin API, the CLI and the gateway's start-up all ask these, so
a name is refused the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.flags import FlagTable, Groups, parse_flag
from gateway.routes import RouteTable


class FlipRefused(ValueError):
    """A flip naming an unknown route, a grouped route, or a new-only route."""


class GatewayConfigError(Exception):
    """The settings and the apps do not fit together; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class FlipRules:
    """The route table and its groups, answering what a flip may do."""

    routes: RouteTable
    groups: Groups
    # Named in the unknown-route message: where the names can be listed.
    admin_prefix: str = "/_gateway"

    def endpoints_for(self, key: str) -> tuple[str, ...]:
        """The legacy endpoints a flip of ``key`` (route or group) moves.

        Raises FlipRefused, with a message saying what to flip instead, for a
        route that moves with a group, a route only the new app has, or an
        unknown name.
        """
        if key in self.groups.members:
            return self.groups.members[key]
        if key in self.groups.group_of:
            raise FlipRefused(
                f"route {key!r} moves with group {self.groups.group_of[key]!r}; "
                "flip the group instead"
            )
        if key in self.routes.legacy_endpoints:
            return (key,)
        if any(info.endpoint == key for info in self.routes.rows()):
            raise FlipRefused(
                f"route {key!r} exists only in the new app and is always served by it"
            )
        raise FlipRefused(
            f"unknown route or group {key!r}; list the names with "
            f"GET {self.admin_prefix.rstrip('/')}/routes or `migrate-gateway routes`"
        )

    def unimplemented(self, endpoints: Iterable[str]) -> list[str]:
        """Those of ``endpoints`` whose rules the new app does not fully serve."""
        wanted = set(endpoints)
        return sorted(
            {i.endpoint for i in self.routes.rows() if i.endpoint in wanted and not i.implemented}
        )

    def rows(self, table: FlagTable) -> list[dict[str, Any]]:
        """The route table as JSON-ready rows, with each route's current flag and group."""
        rows = []
        for info in self.routes.rows():
            legacy = info.origin == "legacy"
            rows.append(
                {
                    "rule": info.rule,
                    "methods": list(info.methods),
                    "endpoint": info.endpoint,
                    "origin": info.origin,
                    "implemented": info.implemented,
                    "new_methods": list(info.new_methods),
                    "group": self.groups.group_of.get(info.endpoint) if legacy else None,
                    "flag": str(table.flag_for(self.groups.key_for(info.endpoint)))
                    if legacy
                    else "new",
                }
            )
        return rows

    def check_configured(self, flags: Mapping[str, str], default_flag: str) -> None:
        """Start-up check of configured flags: each parses and names a flippable key.

        Raises FlagError for a flag that does not parse and GatewayConfigError
        for a key that is neither a legacy route nor a group, or a grouped route.
        Without a legacy url_map no key can be checked, only the flag texts.
        """
        for text in [default_flag, *flags.values()]:
            parse_flag(text)
        if not self.routes.knows_legacy:
            return
        known = self.routes.legacy_endpoints
        for name, members in self.groups.members.items():
            unknown = sorted(set(members) - known)
            if unknown:
                raise GatewayConfigError(f"group {name!r} names unknown legacy routes {unknown}")
        for key in flags:
            if key in self.groups.group_of:
                raise GatewayConfigError(
                    f"flags: {key!r} moves with group {self.groups.group_of[key]!r}; "
                    "set the group's flag"
                )
            if key not in known and key not in self.groups.members:
                raise GatewayConfigError(
                    f"flags: {key!r} is neither a legacy route nor a group; "
                    "list the names with `migrate-gateway routes`"
                )
