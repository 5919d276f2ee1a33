"""The one way flags change: validate, store, audit, wait for every worker.

The admin API, the dashboard, the CLI (without ``--url``) and automatic
rollback all call ``FlipService.flip`` / ``flip_many``, so every change is
checked by the same FlipRules, recorded in the same audit trail and
acknowledged the same way.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.audit import VIAS, AuditEntry, AuditLog, AuditUnavailable, utc_now
from gateway.flags import Flag, FlagError, parse_flag
from gateway.flagstore import FlagStore
from gateway.flips import FlipRefused, FlipRules
from gateway.presence import AckReport

log = logging.getLogger("gateway.flipping")

MAX_REASON_CHARS = 500
# Waits until every live worker applied a version; see gateway/presence.py.
AckWaiter = Callable[[int], Awaitable[AckReport]]


@dataclass(frozen=True, slots=True)
class Change:
    """One key's flip as stored."""

    target: str
    old_flag: str
    new_flag: str
    version: int
    endpoints: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.target,
            "old_flag": self.old_flag,
            "flag": self.new_flag,
            "version": self.version,
            "endpoints": list(self.endpoints),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class FlipResult:
    """What a flip did: the changes, and which workers applied the last of them."""

    changes: tuple[Change, ...]
    acks: AckReport | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def version(self) -> int:
        return self.changes[-1].version if self.changes else 0

    def as_dict(self) -> dict[str, Any]:
        warnings = [w for c in self.changes for w in c.warnings] + list(self.warnings)
        data: dict[str, Any] = {
            "changes": [c.as_dict() for c in self.changes],
            "version": self.version,
            "warnings": warnings,
            "acks": self.acks.as_dict() if self.acks else None,
        }
        if len(self.changes) == 1:  # the single-flip answer keeps its flat shape
            data.update({k: v for k, v in self.changes[0].as_dict().items() if k != "warnings"})
        return data


def flippable_keys(rules: FlipRules) -> list[str]:
    """Every key a flip may name: groups, and legacy routes in no group."""
    keys = set(rules.groups.members)
    keys |= {e for e in rules.routes.legacy_endpoints if e not in rules.groups.group_of}
    return sorted(keys)


def matching_keys(rules: FlipRules, pattern: str) -> list[str]:
    """Flippable keys matching a shell glob (``notes.*``; ``*`` or ``all`` for all).

    Raises FlipRefused when nothing matches.
    """
    keys = flippable_keys(rules)
    if pattern in ("*", "all"):
        return keys
    found = [k for k in keys if fnmatch.fnmatchcase(k, pattern)]
    if not found:
        raise FlipRefused(
            f"no route or group matches {pattern!r}; list the names with `migrate-gateway routes`"
        )
    return found


class FlipService:
    """Validates, stores, audits and acknowledges flips.

    ``acks`` waits for every live worker (None: one process, nothing to wait
    for). Raises FlipRefused / FlagError before anything is stored, and
    FlagStoreUnavailable when the store cannot take the change.
    """

    def __init__(
        self,
        rules: FlipRules,
        store: FlagStore,
        audit: AuditLog,
        acks: AckWaiter | None = None,
    ) -> None:
        self.rules = rules
        self.store = store
        self.audit = audit
        self.acks = acks
        # Told of each stored change (e.g. the rollback windows restart the key's count).
        self.listeners: list[Callable[[Change], Awaitable[None]]] = []

    async def flip(
        self, target: str, flag_value: str | Flag, *, actor: str, reason: str = "", via: str
    ) -> FlipResult:
        """Set one route's or group's flag; see the class docstring for errors."""
        return await self.flip_many([target], flag_value, actor=actor, reason=reason, via=via)

    async def flip_many(
        self,
        targets: Sequence[str],
        flag_value: str | Flag,
        *,
        actor: str,
        reason: str = "",
        via: str,
    ) -> FlipResult:
        """Set several keys to one flag, one audit entry each; all are checked first.

        Raises FlipRefused (naming the first bad key) or FlagError before any
        is stored; FlagStoreUnavailable if the store fails part way (the keys
        stored before that stay changed and audited).
        """
        flag = flag_value if isinstance(flag_value, Flag) else parse_flag(flag_value)
        if via not in VIAS:
            raise FlagError(f"unknown origin {via!r}; one of {', '.join(VIAS)}")
        if len(reason) > MAX_REASON_CHARS:
            raise FlagError(f"reason over {MAX_REASON_CHARS} characters")
        unique = list(dict.fromkeys(targets))
        if not unique:
            raise FlipRefused("no route or group to flip")
        plan = [(key, self.rules.endpoints_for(key)) for key in unique]
        changes: list[Change] = []
        warnings: list[str] = []
        for key, endpoints in plan:
            stored = await self.store.change_flag(key, flag)
            missing = self.rules.unimplemented(endpoints) if flag.kind != "legacy" else []
            change = Change(
                key,
                stored.previous,
                str(flag),
                stored.table.version,
                endpoints,
                (f"the new app does not implement {', '.join(missing)}",) if missing else (),
            )
            changes.append(change)
            for listener in self.listeners:
                try:
                    await listener(change)
                except Exception:
                    log.exception("flip listener failed for %s", key)
            entry = AuditEntry(
                utc_now(), actor, key, change.old_flag, change.new_flag, reason, via, change.version
            )
            try:
                await self.audit.record(entry)
            except AuditUnavailable as exc:
                # The flip happened; the log keeps the entry the trail could not.
                log.error("flip not in the audit trail (%s): %s", exc, entry.as_dict())
                warnings.append(str(exc))
        acks = await self.acks(changes[-1].version) if self.acks is not None else None
        if acks is not None and not acks.complete:
            log.warning(
                "flags version %d not acknowledged by %s%s",
                acks.version,
                ", ".join(acks.missing) or "-",
                f" ({acks.error})" if acks.error else "",
            )
        return FlipResult(tuple(changes), acks, tuple(warnings))

    def keys_for(self, targets: Iterable[str] = (), pattern: str | None = None) -> list[str]:
        """The keys of a bulk flip: the named ``targets`` plus those matching ``pattern``."""
        keys = list(targets)
        if pattern is not None:
            keys += matching_keys(self.rules, pattern)
        return list(dict.fromkeys(keys))
