"""Calling an ASGI app that is an instance of a class the way its class would.

CPython 3.12 calls an instance of a Python class with ``__call__`` through a
slow path (``slot_tp_call``: a method lookup and an argument tuple on every
call), several thousand instructions per call on the gateway's request path.
The same ``__call__`` bound to the instance once is called like any function.
"""

from __future__ import annotations

import types
from typing import Any


def direct_call(app: Any) -> Any:
    """``app``'s ``__call__`` bound to it when it is a plain Python function, else ``app``.

    Calling the result is calling ``app``. A class whose ``__call__`` is
    replaced later keeps the one bound here.
    """
    if isinstance(app, types.FunctionType | types.MethodType | types.BuiltinFunctionType):
        return app
    for klass in type(app).__mro__:  # where the interpreter would find __call__
        call = vars(klass).get("__call__")
        if call is not None:
            return types.MethodType(call, app) if isinstance(call, types.FunctionType) else app
    return app
