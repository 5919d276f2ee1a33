"""Rewrite a Flask view's body for FastAPI with libcst: the mechanical differences.

- ``request.args[...]`` / ``.get(...)`` and ``request.form[...]`` / ``.get(...)``
  become parameters of the route (query and ``Form()`` parameters);
- ``session`` becomes ``request.session`` (the shared session);
- ``redirect(x)`` becomes ``RedirectResponse(x, status_code=302)``;
- ``url_for``, ``render_template``, ``flash`` and ``get_flashed_messages``
  take the request first (``flask_compat``'s); ``current_app`` is the Flask
  app the kit reads (``FlaskCompat.of(request.app).flask_app``);
- ``jsonify(x)`` becomes the returned value, ``abort(code)`` a raised
  ``HTTPException``; ``g`` is ``flask_compat.g``; ``request.method``,
  ``.headers`` and ``.cookies`` stay (Starlette has them).

Everything else that comes from Flask (``current_app``, ``request.files``,
``make_response``, decorators such as ``login_required``, Flask-WTF forms...)
is reported in ``unconverted``; the module writer then keeps the code as a
comment and answers 501.
"""

from __future__ import annotations

import builtins
import inspect
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flask
import libcst as cst
from werkzeug.local import LocalProxy

# Flask objects the converter knows, by identity (whatever the view module calls them).
_CONVERTED = {
    "request": flask.request,
    "session": flask.session,
    "redirect": flask.redirect,
    "url_for": flask.url_for,
    "render_template": flask.render_template,
    "render_template_string": flask.render_template_string,
    "flash": flask.flash,
    "get_flashed_messages": flask.get_flashed_messages,
    "jsonify": flask.jsonify,
    "abort": flask.abort,
    "g": flask.g,
    "current_app": flask.current_app,
}
# Request attributes a Starlette request has with the same meaning.
_SAME_REQUEST_ATTRS = frozenset({"method", "headers", "cookies"})
_SESSION_METHODS = frozenset(
    {"get", "pop", "clear", "setdefault", "update", "keys", "items", "values"}
)
_TAKE_REQUEST = frozenset(
    {"url_for", "render_template", "render_template_string", "flash", "get_flashed_messages"}
)


@dataclass(slots=True)
class Parameter:
    """A query or form value the Flask view read from the request."""

    name: str
    source: str  # "query" | "form"
    annotation: str
    default: str | None  # Python source, None when required


@dataclass(slots=True)
class ConvertedView:
    """The converted body and what the module needs around it."""

    name: str
    decorators: list[str]
    docstring: str | None
    body: str
    parameters: dict[str, Parameter] = field(default_factory=dict)
    flask_names: set[str] = field(default_factory=set)  # converted Flask names used
    imports: set[tuple[str, str]] = field(default_factory=set)  # (module, name)
    module_imports: set[tuple[str, str]] = field(default_factory=set)  # (module, alias)
    unconverted: list[str] = field(default_factory=list)
    raises_http: bool = False
    redirects: bool = False
    is_async: bool = False  # a converted call must be awaited (Flask-WTF forms)
    # Parameters the converted body needs from dependencies: name -> annotation.
    dependency_params: dict[str, str] = field(default_factory=dict)
    # Route dependencies (module, function): what decorators such as @login_required became.
    route_dependencies: list[tuple[str, str]] = field(default_factory=list)


def view_source(view: Callable[..., Any]) -> str:
    """The dedented source of a view function; raises OSError when it has none."""
    return textwrap.dedent(inspect.getsource(view))


class _Names(cst.CSTVisitor):
    """Names a function body reads and names it binds (locals and parameters)."""

    def __init__(self) -> None:
        self.read: set[str] = set()
        self.bound: set[str] = set()

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        node.value.visit(self)
        return False  # the attribute name is not a variable

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Param(self, node: cst.Param) -> bool:
        self.bound.add(node.name.value)
        if node.default is not None:
            node.default.visit(self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.read.add(node.value)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._bind(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._bind(node.target)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._bind(node.asname.name)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self._bind(node.name.name)

    def _bind(self, target: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.bound.add(target.value)
        elif isinstance(target, cst.Tuple | cst.List):
            for element in target.elements:
                self._bind(element.value)


def _string(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


_NO_SPACE = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)


def _keyword(arg: cst.Arg) -> str | None:
    return arg.keyword.value if arg.keyword is not None else None


def _kwarg(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(value, keyword=cst.Name(name), equal=_NO_SPACE)


class _Rewriter(cst.CSTTransformer):
    def __init__(self, aliases: dict[str, str], result: ConvertedView, form_required: bool):
        # aliases: the view module's name -> Flask object name ("request", ...)
        self.aliases = aliases
        self.result = result
        self.form_required = form_required
        # request.args / request.form seen, minus those turned into parameters.
        self.pending_parts = 0
        self.pending_aborts = 0  # abort() calls seen, minus those raised as HTTPException
        self.pending_forms = 0  # form class names seen, minus form creations converted

    def _flask(self, node: cst.BaseExpression) -> str | None:
        if isinstance(node, cst.Name):
            return self.aliases.get(node.value)
        return None

    # --- request.args / request.form -----------------------------------
    def _request_part(self, node: cst.BaseExpression) -> str | None:
        """ "args" / "form" for ``request.args`` / ``request.form``."""
        if (
            isinstance(node, cst.Attribute)
            and self._flask(node.value) == "request"
            and node.attr.value in ("args", "form")
        ):
            return node.attr.value
        return None

    def _parameter(
        self, part: str, key: cst.BaseExpression, default: str | None, kind: str | None
    ) -> cst.BaseExpression | None:
        name = _string(key)
        if name is None or not name.isidentifier() or name in ("request",):
            return None
        annotation = kind or "str"
        source = "query" if part == "args" else "form"
        required = default is None and kind == "required"
        if kind == "required":
            annotation = "str"
            if source == "form" and not self.form_required:
                required = False
        if not required and default is None:
            annotation = f"{annotation} | None"
            default = "None"
        known = self.result.parameters.get(name)
        if known is not None and known.source != source:
            return None
        self.result.parameters.setdefault(name, Parameter(name, source, annotation, default))
        self.pending_parts -= 1
        return cst.Name(name)

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        part = self._request_part(original.value)
        if part and len(original.slice) == 1:
            index = original.slice[0].slice
            if isinstance(index, cst.Index):
                replaced = self._parameter(part, index.value, None, "required")
                if replaced is not None:
                    return replaced
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = original.func
        # request.args.get("k", default, type=int)
        if isinstance(func, cst.Attribute) and func.attr.value == "get":
            part = self._request_part(func.value)
            if part and original.args and original.args[0].keyword is None:
                default: str | None = None
                kind: str | None = None
                ok = True
                for arg in original.args[1:]:
                    code = cst.Module([]).code_for_node(arg.value)
                    if (arg.keyword is None and default is None) or (
                        arg.keyword is not None and arg.keyword.value == "default"
                    ):
                        default = code
                    elif arg.keyword is not None and arg.keyword.value == "type":
                        kind = code if code in ("int", "float", "str", "bool") else None
                        ok = ok and kind is not None
                    else:
                        ok = False
                replaced = (
                    self._parameter(part, original.args[0].value, default, kind) if ok else None
                )
                if replaced is not None:
                    return replaced
        name = self._flask(func)
        if name == "form" and isinstance(func, cst.Name):
            # PostForm(...) -> await flask_form(request, PostForm, ...)
            self.pending_forms -= 1
            self.result.is_async = True
            self.result.imports.add(("flask_compat.wtf", "flask_form"))
            call = cst.Call(
                cst.Name("flask_form"),
                [cst.Arg(cst.Name("request")), cst.Arg(cst.Name(func.value)), *updated.args],
            )
            return cst.Await(call)
        if name == "abort":
            self.pending_aborts += 1
        if name in _TAKE_REQUEST:
            self.result.flask_names.add(name)
            return updated.with_changes(
                func=cst.Name(name), args=[cst.Arg(cst.Name("request")), *updated.args]
            )
        if name == "redirect":
            self.result.redirects = True
            args = list(updated.args)
            status: cst.BaseExpression = cst.Integer("302")
            if len(args) >= 2 and args[1].keyword is None:
                status = args[1].value
            for arg in args:
                if arg.keyword is not None and arg.keyword.value == "code":
                    status = arg.value
            if not args or args[0].keyword is not None:
                return updated
            return cst.Call(
                cst.Name("RedirectResponse"),
                [
                    args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT),
                    _kwarg("status_code", status),
                ],
            )
        if name == "jsonify":
            args = updated.args
            if not args:
                return cst.Dict([])
            if all(a.keyword is not None for a in args):
                return cst.Dict(
                    [
                        cst.DictElement(cst.SimpleString(repr(a.keyword.value)), a.value)
                        for a in args
                        if a.keyword is not None
                    ]
                )
            if len(args) == 1 and not args[0].star:
                return args[0].value
            if all(a.keyword is None and not a.star for a in args):
                return cst.List([cst.Element(a.value) for a in args])
        return updated

    # --- statements ---------------------------------------------------
    def leave_Expr(
        self, original: cst.Expr, updated: cst.Expr
    ) -> cst.BaseSmallStatement | cst.RemovalSentinel:
        call = original.value
        new_call = updated.value
        if (
            isinstance(call, cst.Call)
            and isinstance(new_call, cst.Call)
            and self._flask(call.func) == "abort"
        ):
            args = [a.value for a in new_call.args if a.keyword is None]
            detail = [a.value for a in new_call.args if _keyword(a) == "description"]
            if (
                len(args) + len(detail) != len(new_call.args)
                or not 1 <= len(args) + len(detail) <= 2
            ):
                return updated
            if not args:
                return updated
            self.result.raises_http = True
            self.pending_aborts -= 1
            new_args = [_kwarg("status_code", args[0])]
            if len(args) == 2 or detail:
                new_args.append(_kwarg("detail", (args[1:] or detail)[0]))
            return cst.Raise(exc=cst.Call(cst.Name("HTTPException"), new_args))
        return updated

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        # `q = request.args.get("q")` became `q = q`: the parameter already is the value.
        body = updated.body
        if len(body) == 1 and isinstance(body[0], cst.Assign) and len(body[0].targets) == 1:
            target, value = body[0].targets[0].target, body[0].value
            if (
                isinstance(target, cst.Name)
                and isinstance(value, cst.Name)
                and target.value == value.value
                and target.value in self.result.parameters
            ):
                return cst.RemoveFromParent()
        return updated

    def leave_Return(self, original: cst.Return, updated: cst.Return) -> cst.Return:
        if isinstance(original.value, cst.Tuple):
            self.result.unconverted.append(
                "return (body, status or headers): build the response and set its status"
            )
        return updated

    # --- names ----------------------------------------------------------
    def leave_Attribute(
        self, original: cst.Attribute, updated: cst.Attribute
    ) -> cst.BaseExpression:
        owner = self._flask(original.value)
        if owner == "request" and original.attr.value == "path":
            return cst.parse_expression("request.url.path")
        if owner == "session" and original.attr.value not in _SESSION_METHODS:
            self.result.unconverted.append(f"session.{original.attr.value}")
        if owner == "request" and original.attr.value in ("args", "form"):
            self.pending_parts += 1
        elif owner == "request" and original.attr.value not in _SAME_REQUEST_ATTRS:
            self.result.unconverted.append(f"request.{original.attr.value}")
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        name = self.aliases.get(original.value)
        if name == "form":
            self.pending_forms += 1
        if name == "session":
            self.result.flask_names.add("session")
            return cst.parse_expression("request.session")
        if name == "g":
            self.result.flask_names.add("g")
            return cst.Name("g")
        if name == "request":
            return cst.Name("request")
        if name == "current_app":
            # The Flask app object the kit reads: its config, logger, extensions.
            self.result.flask_names.add("FlaskCompat")
            return cst.parse_expression("FlaskCompat.of(request.app).flask_app")
        return updated


def convert_view(
    view: Callable[..., Any], *, form_required: bool, hook: bool = False
) -> ConvertedView:
    """Convert ``view``'s body (the unwrapped function). ``form_required``: missing
    ``request.form["x"]`` values are a client error (POST-only views); otherwise
    they are optional, because the same function also answers GET. ``hook``: a
    ``before_request`` function, whose decorator is the registration, not a wrapper.

    Raises OSError when the view has no source (built in C, made by exec).
    """
    source = view_source(view)
    module = cst.parse_module(source)
    func = next((n for n in module.body if isinstance(n, cst.FunctionDef)), None)
    if func is None:
        raise OSError(f"no function definition in the source of {view!r}")
    result = ConvertedView(
        name=func.name.value,
        decorators=[module.code_for_node(d.decorator) for d in func.decorators],
        docstring=func.get_docstring(clean=False),
        body="",
    )
    names = _Names()
    func.body.visit(names)
    for param in func.params.params:
        names.bound.add(param.name.value)
    globals_ = getattr(view, "__globals__", {})
    aliases: dict[str, str] = {}
    for name in sorted(names.read - names.bound):
        if name in globals_:
            obj = globals_[name]
            flask_name = next((k for k, v in _CONVERTED.items() if obj is v), None)
            if flask_name is not None:
                aliases[name] = flask_name
            elif obj is _flask_login("current_user"):
                # Flask-Login's current_user: the same object, from a dependency.
                result.dependency_params[name] = "CurrentUser"
                result.imports.add(("flask_compat.login", "CurrentUser"))
            elif _is_flask_form(obj):
                aliases[name] = "form"
                result.imports.add((view.__module__, name))
            elif _from_flask(obj):
                result.unconverted.append(f"{name} (Flask's, needs a Flask request)")
            elif isinstance(obj, types.ModuleType):
                result.module_imports.add((obj.__name__, name))
            else:
                result.imports.add((view.__module__, name))
        elif not hasattr(builtins, name):
            result.unconverted.append(f"{name} (not found in {view.__module__})")
    for decorator in [] if hook else result.decorators:
        head = decorator.split("(")[0]
        if head.endswith((".route", ".get", ".post", ".put", ".patch", ".delete")):
            continue
        target = globals_.get(head)
        login_check = next(
            (n for n in _LOGIN_DECORATORS if target is not None and target is _flask_login(n)),
            None,
        )
        if login_check is not None and "(" not in decorator:
            result.route_dependencies.append(("flask_compat.login", login_check))
        else:
            result.unconverted.append(f"decorator @{decorator}")
    rewriter = _Rewriter(aliases, result, form_required)
    converted = func.body.visit(rewriter)
    if rewriter.pending_forms > 0:
        result.unconverted.append("a Flask-WTF form class used other than by creating a form")
    if rewriter.pending_aborts > 0:
        result.unconverted.append("abort() where no raise statement can replace it")
    if rewriter.pending_parts > 0:
        result.unconverted.append("request.args / request.form used other than [key] or .get(key)")
    statements = list(converted.body) if isinstance(converted, cst.IndentedBlock) else []
    if result.docstring is not None and statements:
        statements = statements[1:]  # the writer puts the docstring back
    result.body = cst.Module(body=statements).code
    if "request" in result.parameters:
        result.unconverted.append("a request value named 'request'")
    return result


_LOGIN_DECORATORS = ("login_required", "fresh_login_required")


def _flask_login(name: str) -> Any:
    """An object of Flask-Login by name, or a sentinel nothing is when it is not installed."""
    try:
        import flask_login
    except ImportError:
        return _MISSING
    return getattr(flask_login, name, _MISSING)


_MISSING = object()


def _from_flask(obj: object) -> bool:
    """Flask's own objects, and any context-local proxy (``current_app``,
    Flask-Login's ``current_user``): they need a Flask request."""
    if issubclass(type(obj), LocalProxy):
        return True
    module = getattr(type(obj), "__module__", "")
    if isinstance(obj, type | types.FunctionType | types.BuiltinFunctionType):
        module = getattr(obj, "__module__", "")
    if isinstance(obj, types.ModuleType):
        module = obj.__name__
    top = module.split(".")[0] if isinstance(module, str) else ""
    # flask, flask_login, flask_wtf, flask_sqlalchemy...: all need Flask's contexts.
    return top.startswith("flask") and top != "flask_compat"


def _is_flask_form(obj: object) -> bool:
    try:
        from flask_wtf import FlaskForm
    except ImportError:  # Flask-WTF not installed: nothing can be a FlaskForm
        return False
    return isinstance(obj, type) and issubclass(obj, FlaskForm)
