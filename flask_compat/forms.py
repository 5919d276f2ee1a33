"""Flask-WTF forms on the FastAPI side: the same form class, fields, validators and HTML.

A ``FlaskForm`` needs Flask's request (its data, its CSRF token, its config),
so it cannot be built in a FastAPI route. ``FlaskCSRF.form(request, PostForm)``
builds the same form as a plain WTForms form: the fields, inline
``validate_<field>`` methods and other attributes of ``PostForm`` and its
bases (up to ``FlaskForm``), the submitted data read from the request body on
POST, PUT, PATCH and DELETE (as ``FlaskForm`` does), and, when CSRF is on,
a hidden ``csrf_token`` field rendered with this request's token and checked
on ``validate()`` with Flask-WTF's messages. ``validate_on_submit()``,
``is_submitted()`` and ``hidden_tag()`` are FlaskForm's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from starlette.requests import Request

if TYPE_CHECKING:
    from flask_compat.wtf import FlaskCSRF

SUBMIT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CLASSES: dict[tuple[type, str | None], type] = {}


def plain_form_class(form_class: type, csrf_field: str | None) -> type:
    """A ``wtforms.Form`` with ``form_class``'s own attributes (cached per class)."""
    key = (form_class, csrf_field)
    if key in _CLASSES:
        return _CLASSES[key]
    import wtforms
    from flask_wtf import FlaskForm
    from wtforms.validators import ValidationError
    from wtforms.widgets import HiddenInput

    class CSRFTokenField(wtforms.HiddenField):
        """Renders this request's token; checks the submitted one (WTForms' own shape)."""

        current_token = ""

        def _value(self) -> str:
            return self.current_token

        def populate_obj(self, *args: Any) -> None:
            pass  # never copied onto a model, as WTForms' CSRFTokenField

        def pre_validate(self, form: Any) -> None:
            check = getattr(form, "_compat_check_csrf", None)
            if check is not None:
                reason = check(self.data)
                if reason:
                    raise ValidationError(reason)

    class CompatForm(wtforms.Form):
        _compat_submitted = False

        def is_submitted(self) -> bool:
            return self._compat_submitted

        def validate_on_submit(self, extra_validators: Any = None) -> bool:
            return self.is_submitted() and self.validate(extra_validators=extra_validators)

        def hidden_tag(self, *fields: Any) -> Markup:
            # FlaskForm.hidden_tag: every hidden field (or those named), one per line.
            chosen = [getattr(self, f, None) if isinstance(f, str) else f for f in fields or self]
            hidden = [f for f in chosen if f is not None and isinstance(f.widget, HiddenInput)]
            return Markup("\n".join(str(f) for f in hidden))

    attrs: dict[str, Any] = {}
    for klass in reversed(form_class.__mro__):
        if klass in FlaskForm.__mro__:
            continue
        attrs.update(
            (name, value)
            for name, value in vars(klass).items()
            if not name.startswith("__") and name != "Meta"
        )
    if csrf_field:
        attrs[csrf_field] = CSRFTokenField()  # created last: rendered last, as in Flask-WTF
    built = type(form_class.__name__, (CompatForm,), attrs)
    _CLASSES[key] = built
    return built


async def build_form(csrf: FlaskCSRF, request: Request, form_class: type, **kwargs: Any) -> Any:
    """``form_class`` (a FlaskForm subclass) for ``request``; see the module docstring."""
    enabled = bool(csrf.setting("WTF_CSRF_ENABLED"))
    field = str(csrf.setting("WTF_CSRF_FIELD_NAME")) if enabled else None
    cls = plain_form_class(form_class, field)
    submitted = request.method in SUBMIT_METHODS
    formdata = await request.form() if submitted else None
    form = cls(formdata=formdata, **kwargs)
    form._compat_submitted = submitted
    if field:
        from flask_compat.wtf import CSRFError

        form[field].current_token = csrf.generate_csrf(request)

        def check(data: str | None) -> str | None:
            try:
                csrf.validate_csrf(request, data)
            except CSRFError as error:
                return error.reason
            return None

        form._compat_check_csrf = check
    return form
