"""Write the FastAPI router module for one blueprint (or the app's own routes)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from typing import Any

import libcst as cst
from flask import Flask

from flask_compat.scaffold.convert import ConvertedView, Parameter, convert_view, view_source
from flask_compat.scaffold.imports import Imports, is_kit, rename
from flask_compat.scaffold.routes import PathParam, ViewPlan, blueprint_views

SCAFFOLD_TAG = "x-scaffold"
_SHORTCUTS = {"GET": "get", "POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}


def scaffold_module(
    flask_app: Flask,
    blueprint: str | None = None,
    *,
    convert: bool = False,
    noqa_long_lines: bool = False,
) -> str:
    """The source of a FastAPI module with an ``APIRouter`` named ``router`` serving
    every rule of ``blueprint`` (None: the app's own routes) under its Flask
    endpoint's name. Raises ScaffoldError for an unknown or empty blueprint.

    ``noqa_long_lines`` adds ``# ruff: noqa: E501`` under the docstring, for a
    caller that then lets ruff drop it where E501 is not enabled (RUF100)."""
    plans = blueprint_views(flask_app, blueprint)
    imports = Imports()
    imports.add("fastapi", "APIRouter", "Request")
    used_names: set[str] = imports.reserved  # the module's own names: no import shadows one
    used_names.add("router")
    function_names: list[str] = []
    for plan in plans:
        name = plan.function_name
        while name in used_names:
            name += "_"
        used_names.add(name)
        function_names.append(name)
    first_party: set[str] = set()
    functions = [
        _function(plan, name, imports, convert, first_party)
        for plan, name in zip(plans, function_names, strict=True)
    ]
    hook_functions, hook_names, left = _hooks(
        flask_app, blueprint, convert, imports, used_names, first_party
    )
    if hook_names:
        imports.add("fastapi", "Depends")
        depends = ", ".join(f"Depends({n})" for n in hook_names)
        body = [f"router = APIRouter(dependencies=[{depends}])", "", ""]
    else:
        body = ["router = APIRouter()", "", ""]
    if left:
        note = (
            "Flask runs these before each request here; port those that fill g as "
            f"dependencies (router = APIRouter(dependencies=[...])): {', '.join(left)}"
        )
        body[1:1] = [f"# {line}" for line in textwrap.wrap(note, 86, break_on_hyphens=False)]
    if hook_functions:
        body = ["\n\n".join(f.strip("\n") + "\n" for f in hook_functions), "", *body]
    where = f"the Flask blueprint {blueprint!r}" if blueprint else "the Flask app's own routes"
    login_note = (
        "\n        Flask-Login's current_user and login_required need its bridge too:\n"
        "        FlaskLogin(flask_app).install(app) and a user_loader (flask_compat.login)."
        if "flask_compat.login" in imports.names
        else ""
    )
    header = textwrap.dedent(
        f'''\
        """FastAPI routes for {where} (written by `migrate-gateway scaffold`).

        Each route is named after its Flask endpoint, so url_for, the gateway's flags
        and `migrate-gateway status` find it. The FastAPI app needs flask_compat
        installed: FlaskCompat(flask_app).install(app), then app.include_router(router).{login_note}
        """
        '''
    ) + ("# ruff: noqa: E501\n" if noqa_long_lines else "")
    code = "\n\n\n".join(f.strip("\n") for f in functions)
    # As isort spaces them: two blank lines after the imports before a def, else one.
    spacing = [""] if hook_functions else []
    parts = [header, *imports.lines(first_party), *spacing, *body, code]
    return "\n".join(parts).rstrip() + "\n"


def _before_request(flask_app: Flask, blueprint: str | None) -> list[Any]:
    """The app's, then the blueprint's (and its parents') ``before_request`` functions."""
    keys: list[str | None] = [None]
    if blueprint:
        parts = blueprint.split(".")
        keys += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return [func for key in keys for func in flask_app.before_request_funcs.get(key, [])]


_RETURNS_VALUE = re.compile(r"^\s*return\s+\S", re.MULTILINE)


def _hooks(
    flask_app: Flask,
    blueprint: str | None,
    convert: bool,
    imports: Imports,
    used_names: set[str],
    first_party: set[str],
) -> tuple[list[str], list[str], list[str]]:
    """``before_request`` functions as router dependencies, when --convert can convert
    them: (function sources, their names, the qualified names of those left as a note).
    Flask-WTF's CSRF hook is left out: converted routes depend on ``csrf_protect``."""
    sources: list[str] = []
    names: list[str] = []
    left: list[str] = []
    for func in _before_request(flask_app, blueprint):
        qualname = f"{getattr(func, '__module__', '?')}.{getattr(func, '__name__', func)}"
        if qualname == "flask_wtf.csrf.csrf_protect" and convert:
            continue
        converted = None
        if convert:
            try:
                converted = convert_view(func, form_required=False, hook=True)
            except (OSError, TypeError, cst.ParserSyntaxError):
                converted = None
        usable = (
            converted is not None
            and not converted.unconverted
            and not converted.parameters
            and not converted.route_dependencies
            and not _RETURNS_VALUE.search(converted.body)
        )
        if converted is None or not usable:
            left.append(qualname)
            continue
        name = converted.name
        while imports.taken(name):
            name += "_"
        used_names.add(name)
        params = [f"{n}: {a}" for n, a in converted.dependency_params.items()]
        signature = _star(", ".join(["request: Request", *params]))
        keyword = "async def" if converted.is_async else "def"
        if converted.flask_names - {"session"}:
            imports.add("flask_compat", *sorted(converted.flask_names - {"session"}))
        code = _bind_imports(converted, imports, first_party)
        doc = f"    {_docstring(converted.docstring)}\n" if converted.docstring else ""
        comment = f"    # Flask's before_request {qualname}, as a dependency of every route here.\n"
        body = textwrap.indent(code.rstrip("\n") or "pass", "    ")
        sources.append(f"{keyword} {name}({signature}):\n{doc}{comment}{body}\n")
        names.append(name)
    return sources, names, left


def _decorators(
    plan: ViewPlan, marker: str | None = None, dependencies: Iterable[str] = ()
) -> list[str]:
    """The route decorators; ``marker`` ("stub", "todo") tags a route that is not ported
    yet (``openapi_extra={"x-scaffold": ...}``): `migrate-gateway status` does not count
    it as implemented until the tag is removed. ``dependencies``: function names for
    ``dependencies=[Depends(...)]``."""
    extra = f', openapi_extra={{"{SCAFFOLD_TAG}": "{marker}"}}' if marker else ""
    if dependencies:
        extra += ", dependencies=[" + ", ".join(f"Depends({d})" for d in dependencies) + "]"
    lines = []
    # Flask adds a view's stacked rules bottom decorator first and builds its URL
    # from the first rule that fits; Starlette registers and builds the same way.
    # The url_map holds them in the order added: written in reverse, the bottom
    # decorator is the url_map's first rule, as in the Flask source.
    for route in reversed(plan.routes):
        path, name = _quoted(route.path), _quoted(plan.endpoint)
        if len(route.methods) == 1 and route.methods[0] in _SHORTCUTS:
            verb = _SHORTCUTS[route.methods[0]]
            lines.append(f"@router.{verb}({path}, name={name}{extra})")
        else:
            methods = ", ".join(_quoted(m) for m in route.methods)
            lines.append(f"@router.api_route({path}, methods=[{methods}], name={name}{extra})")
    return lines


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _path_params(plan: ViewPlan) -> tuple[list[str], list[str], bool]:
    """Signature parts for the path parameters, notes, and whether uuid is needed."""
    seen: dict[str, PathParam] = {}
    for route in plan.routes:
        for param in route.params:
            seen.setdefault(param.name, param)
    parts, notes = [], []
    needs_uuid = False
    for name, param in seen.items():
        defaults = [dict(r.defaults).get(name) for r in plan.routes if name not in _names(r)]
        absent = any(name not in _names(r) for r in plan.routes)
        annotation = param.annotation
        needs_uuid = needs_uuid or annotation.startswith("uuid.")
        if absent:
            default = defaults[0] if defaults else None
            if default is None:
                annotation += " | None"
            parts.append(f"{name}: {annotation} = {default!r}")
        else:
            parts.append(f"{name}: {annotation}")
        if param.note:
            notes.append(param.note)
    # Rule defaults that are no path parameter of any rule: Flask passes them too.
    for route in plan.routes:
        for key, value in route.defaults:
            if key not in seen:
                seen[key] = PathParam(key, type(value).__name__)
                parts.append(f"{key}: {type(value).__name__} = {value!r}")
    return parts, notes, needs_uuid


def _names(route: object) -> set[str]:
    return {p.name for p in getattr(route, "params", ())}


def _parameter(param: Parameter) -> str:
    if param.source == "form":
        annotation = f"Annotated[{param.annotation}, Form()]"
    else:
        annotation = param.annotation
    return f"{param.name}: {annotation}" + (
        f" = {param.default}" if param.default is not None else ""
    )


def _function(
    plan: ViewPlan, name: str, imports: Imports, convert: bool, first_party: set[str]
) -> str:
    path_parts, notes, needs_uuid = _path_params(plan)
    if needs_uuid:
        imports.bind_module("uuid", "uuid")
    form_required = all("GET" not in r.methods for r in plan.routes)
    qualname = f"{plan.view.__module__}.{getattr(plan.view, '__qualname__', name)}"
    converted: ConvertedView | None = None
    problem: str | None = None
    try:
        converted = convert_view(plan.view, form_required=form_required)
    except (OSError, TypeError, cst.ParserSyntaxError) as exc:
        problem = f"no source for {qualname}: {exc}"
    comments = [f"    # {note}" for note in notes]
    stub = converted is None or (convert and bool(converted.unconverted))
    lines = [*_decorators(plan, "stub" if stub else None)]
    if converted is None:
        signature = ", ".join(["request: Request", *path_parts])
        lines.append(f"def {name}({_star(signature)}):")
        lines += comments
        lines.append(f"    # scaffold: cannot convert: {problem}")
        lines += _stub(plan, imports)
        return "\n".join(lines) + "\n\n\n"
    if converted.docstring is not None:
        comments.insert(0, f"    {_docstring(converted.docstring)}")
    if not convert:
        return _skeleton(plan, name, converted, path_parts, comments, imports) + "\n\n\n"
    if converted.unconverted:
        signature = ", ".join(["request: Request", *path_parts])
        lines.append(f"def {name}({_star(signature)}):")
        lines += comments
        for item in dict.fromkeys(converted.unconverted):
            lines.append(f"    # scaffold: cannot convert: {item}")
        lines.append(f"    # Flask view {qualname}, converted as far as it goes:")
        lines += _commented(converted.body)
        lines += _stub(plan, imports)
        return "\n".join(lines) + "\n\n\n"
    params = [_parameter(p) for p in converted.parameters.values()]
    params += [f"{n}: {annotation}" for n, annotation in converted.dependency_params.items()]
    if any(p.source == "form" for p in converted.parameters.values()):
        imports.add("typing", "Annotated")
        imports.add("fastapi", "Form")
    dependencies = [function for _, function in converted.route_dependencies]
    for module, function in converted.route_dependencies:
        imports.add(module, function)
    if csrf_protected(plan):
        dependencies.append("csrf_protect")
        imports.add("flask_compat.wtf", "csrf_protect")
    if dependencies:
        imports.add("fastapi", "Depends")
        lines = _decorators(plan, None, dependencies)
    signature = ", ".join(["request: Request", *path_parts, *params])
    keyword = "async def" if converted.is_async else "def"
    lines.append(f"{keyword} {name}({_star(signature)}):")
    lines += comments
    if converted.flask_names - {"session"}:
        imports.add("flask_compat", *sorted(converted.flask_names - {"session"}))
    if converted.raises_http:
        imports.add("fastapi", "HTTPException")
    if converted.redirects:
        imports.add("fastapi.responses", "RedirectResponse")
    body = _bind_imports(converted, imports, first_party).rstrip("\n") or "pass"
    lines += [textwrap.indent(body, "    ")]
    return "\n".join(lines) + "\n\n\n"


def _bind_imports(converted: ConvertedView, imports: Imports, first_party: set[str]) -> str:
    """Import what the converted code reads from its Flask module (each name once, see
    flask_compat.scaffold.imports); its body, renamed where an import needed an alias."""
    renames: dict[str, str] = {}
    for module, imported in sorted(converted.imports):
        if is_kit(module):
            imports.add(module, imported)
        else:
            renames[imported] = imports.bind(module, imported)
            first_party.add(module.split(".")[0])
    for module, alias in sorted(converted.module_imports):
        renames[alias] = imports.bind_module(module, alias)
    return rename(converted.body, renames)


def csrf_protected(plan: ViewPlan) -> bool:
    """True when Flask-WTF's ``CSRFProtect`` checks this view in Flask: it is on the app,
    the view takes a method it protects and is not exempt."""

    app = plan.app
    csrf = app.extensions.get("csrf") if app is not None else None
    if csrf is None or not app.config.get("WTF_CSRF_ENABLED", True):
        return False
    methods = set(app.config.get("WTF_CSRF_METHODS", {"POST", "PUT", "PATCH", "DELETE"}))
    if not any(methods & set(route.methods) for route in plan.routes):
        return False
    view = plan.view
    name = f"{view.__module__}.{view.__name__}"
    blueprint = plan.endpoint.rpartition(".")[0]
    exempt_views = getattr(csrf, "_exempt_views", set())
    exempt_blueprints = getattr(csrf, "_exempt_blueprints", set())
    return name not in exempt_views and blueprint not in exempt_blueprints


def _skeleton(
    plan: ViewPlan,
    name: str,
    converted: ConvertedView,
    path_parts: list[str],
    comments: list[str],
    imports: Imports,
) -> str:
    """Without --convert: the route, its signature, the Flask body as a comment and,
    for views that render a template, the same template through flask_compat."""
    signature = ", ".join(["request: Request", *path_parts])
    template = _template_name(view_source(plan.view))
    marker = "todo" if template is not None else "stub"
    lines = [*_decorators(plan, marker), f"def {name}({_star(signature)}):", *comments]
    lines.append("    # The Flask view, to port by hand (or run scaffold with --convert):")
    lines += _commented(textwrap.dedent(_body_of(view_source(plan.view))))
    if template is not None:
        imports.add("flask_compat", "render_template")
        lines.append("    # TODO: pass the context the Flask view computes (commented above),")
        lines.append('    # then remove openapi_extra={"x-scaffold": "todo"} from the route.')
        lines.append(f"    return render_template(request, {template!r})".replace("'", '"'))
    else:
        lines += _stub(plan, imports)
    return "\n".join(lines)


def _stub(plan: ViewPlan, imports: Imports) -> list[str]:
    imports.add("fastapi", "HTTPException")
    return [f'    raise HTTPException(status_code=501, detail="{plan.endpoint} is not ported yet")']


def _star(signature: str) -> str:
    # Keyword-only after the request: defaults may then come in any order.
    head, sep, rest = signature.partition(", ")
    return f"{head}, *, {rest}" if sep else head


def _commented(code: str) -> list[str]:
    return [f"    #     {line}".rstrip() for line in code.rstrip("\n").splitlines()]


def _docstring(text: str) -> str:
    return '"""' + text.replace('"""', "'''") + '"""'


def _body_of(source: str) -> str:
    module = cst.parse_module(source)
    func = next(n for n in module.body if isinstance(n, cst.FunctionDef))
    body = func.body
    statements = list(body.body) if isinstance(body, cst.IndentedBlock) else []
    return cst.Module(body=statements).code


_RENDER = re.compile(r"render_template\(\s*(['\"])([^'\"]+)\1")


def _template_name(source: str) -> str | None:
    match = _RENDER.search(source)
    return match.group(2) if match else None
