"""Per-route flags: which app serves a route, parsed once and compared cheaply.

A flag is one of ``legacy``, ``new``, ``shadow`` (legacy answers, the new app
gets a replay) or ``canary <percent>`` with 0.01 % steps, kept as integer
basis points (0..10000) so bucketing never touches floats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

FlagKind = Literal["legacy", "new", "shadow", "canary"]
Side = Literal["legacy", "new", "shadow"]

MAX_BASIS_POINTS = 10_000
_CANARY = re.compile(r"canary\s*[ :=]?\s*([0-9]+(?:\.[0-9]+)?)\s*%?", re.IGNORECASE)


class FlagError(ValueError):
    """A flag text that cannot be parsed, or a flip the route table refuses."""


@dataclass(frozen=True, slots=True)
class Flag:
    """A parsed flag; ``basis_points`` is only meaningful for canary."""

    kind: FlagKind
    basis_points: int = 0

    def __str__(self) -> str:
        if self.kind != "canary":
            return self.kind
        percent = Decimal(self.basis_points) / 100
        return f"canary {percent.normalize():f}"

    @property
    def percent(self) -> float:
        """Share of users on the new app, 0..100 (legacy/shadow 0, new 100)."""
        if self.kind == "new":
            return 100.0
        return self.basis_points / 100 if self.kind == "canary" else 0.0


LEGACY = Flag("legacy")
NEW = Flag("new")
SHADOW = Flag("shadow")


def parse_flag(text: object) -> Flag:
    """Parse ``legacy``, ``new``, ``shadow``, ``canary 12.5`` or ``canary 12.5%``.

    Case and surrounding blanks do not matter. Raises FlagError with a message
    naming the accepted forms for anything else, including percentages outside
    0..100 or finer than 0.01.
    """
    if not isinstance(text, str):
        raise FlagError(f"a flag must be a string, got {type(text).__name__}")
    value = text.strip()
    if len(value) > 40:
        raise FlagError("flag too long; use legacy, new, shadow or 'canary <percent>'")
    lowered = value.lower()
    if lowered in ("legacy", "new", "shadow"):
        return Flag(lowered)  # type: ignore[arg-type]
    match = _CANARY.fullmatch(value)
    if match is None:
        raise FlagError(
            f"unknown flag {value!r}; use legacy, new, shadow or 'canary <percent>' "
            "(e.g. 'canary 12.5')"
        )
    try:
        percent = Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the regex only lets digits through
        raise FlagError(f"bad canary percentage in {value!r}") from None
    if percent > 100:
        raise FlagError(f"canary percentage must be between 0 and 100, got {percent}")
    basis_points = percent * 100
    if basis_points != basis_points.to_integral_value():
        raise FlagError(f"canary percentage {percent} is finer than the 0.01 % step")
    return Flag("canary", int(basis_points))


class GroupError(ValueError):
    """The configured groups are inconsistent (a route in two groups, a name clash)."""


@dataclass(frozen=True, slots=True)
class Groups:
    """Named sets of routes that always share one flag."""

    members: Mapping[str, tuple[str, ...]]
    group_of: Mapping[str, str]

    @classmethod
    def from_settings(cls, groups: Mapping[str, Iterable[str]]) -> Groups:
        """Build from ``settings.groups``; raises GroupError if a route is in two groups."""
        members: dict[str, tuple[str, ...]] = {}
        group_of: dict[str, str] = {}
        for name, routes in groups.items():
            members[name] = tuple(routes)
            for route in members[name]:
                if route in group_of:
                    raise GroupError(
                        f"route {route!r} is in groups {group_of[route]!r} and {name!r}; "
                        "a route can move with one group only"
                    )
                group_of[route] = name
        clash = set(members) & set(group_of)
        if clash:
            raise GroupError(f"group names {sorted(clash)} are also route names in a group")
        return cls(members, group_of)

    def key_for(self, route: str) -> str:
        """The flag key a route is served by: its group's name, or its own."""
        return self.group_of.get(route, route)


@dataclass(frozen=True, slots=True)
class FlagTable:
    """An immutable snapshot of every flag, with the version it came from.

    ``flags`` maps a route or group key to its parsed flag; keys not in it get
    ``default``. Swapped as a whole on every change, so a request reads one
    consistent table without locks.
    """

    version: int
    flags: Mapping[str, Flag]
    default: Flag = LEGACY
    source: str = "memory"

    def flag_for(self, key: str) -> Flag:
        return self.flags.get(key, self.default)

    @classmethod
    def from_texts(
        cls, version: int, texts: Mapping[str, str], default: Flag = LEGACY, source: str = "memory"
    ) -> tuple[FlagTable, dict[str, str]]:
        """Parse a stored mapping; returns the table and the entries that did not parse.

        Broken entries fall back to ``default`` rather than failing the whole table.
        """
        flags: dict[str, Flag] = {}
        broken: dict[str, str] = {}
        for key, text in texts.items():
            try:
                flags[key] = parse_flag(text)
            except FlagError as exc:
                broken[key] = str(exc)
        return cls(version, flags, default, source), broken

    def as_texts(self) -> dict[str, str]:
        return {key: str(flag) for key, flag in sorted(self.flags.items())}
