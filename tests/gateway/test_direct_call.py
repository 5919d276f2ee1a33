"""Backends are called through their bound ``__call__``: the same call, without the slow path."""

from __future__ import annotations

import asyncio
import functools
import types

from gateway.direct_call import direct_call


class App:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    async def __call__(self, scope: object, receive: object, send: object) -> None:
        self.calls.append((scope, receive, send))


class Inheriting(App):
    pass


def test_an_instance_is_called_through_its_bound_call() -> None:
    app = Inheriting()
    call = direct_call(app)
    assert isinstance(call, types.MethodType) and call.__self__ is app
    asyncio.run(call({"type": "http"}, 1, 2))
    assert app.calls == [({"type": "http"}, 1, 2)]


def test_functions_and_other_callables_are_returned_as_they_are() -> None:
    async def app(scope: object, receive: object, send: object) -> None: ...

    partial = functools.partial(app, {})
    assert direct_call(app) is app
    assert direct_call(len) is len
    assert direct_call(partial) is partial  # a C-level __call__: nothing to gain
