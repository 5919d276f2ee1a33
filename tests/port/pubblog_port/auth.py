"""FastAPI routes for the Flask blueprint 'auth' (written by `migrate-gateway scaffold`).

Each route is named after its Flask endpoint, so url_for, the gateway's flags
and `migrate-gateway status` find it. The FastAPI app needs flask_compat
installed: FlaskCompat(flask_app).install(app), then app.include_router(router).
Flask-Login's current_user and login_required need its bridge too:
FlaskLogin(flask_app).install(app) and a user_loader (flask_compat.login).
"""
# ruff: noqa: E501

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from flask_compat import flash, g, url_for
from flask_compat.login import CurrentUser, FlaskLogin
from flask_compat.wtf import csrf_protect, flask_form
from tests.port.pubblog.auth import LogoutForm


def load_logged_in_user(request: Request, *, current_user: CurrentUser):
    # Flask's before_request tests.port.pubblog.load_logged_in_user, as a dependency of every route here.
    g.user = current_user if current_user.is_authenticated else None


router = APIRouter(dependencies=[Depends(load_logged_in_user)])


@router.post("/auth/logout", name="auth.logout", dependencies=[Depends(csrf_protect)])
async def logout(request: Request):
    form = await flask_form(request, LogoutForm)
    response = RedirectResponse(url_for(request, "blog.index"), status_code=302)
    if form.validate_on_submit():
        FlaskLogin.of(request.app).logout_user(request, response)
        flash(request, "You have been logged out.", "info")
    return response
