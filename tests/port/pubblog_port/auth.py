"""FastAPI routes for the Flask blueprint 'auth' (written by `migrate-gateway scaffold`).

Each route is named after its Flask endpoint, so url_for, the gateway's flags
and `migrate-gateway status` find it. The FastAPI app needs flask_compat
installed: FlaskCompat(flask_app).install(app), then app.include_router(router).
"""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from flask_compat import flash, url_for
from tests.port.pubblog.auth import LogoutForm

router = APIRouter()


@router.post("/auth/logout", name="auth.logout")
async def logout(request: Request):
    form = await request.app.state.csrf.form(request, LogoutForm)
    response = RedirectResponse(url_for(request, "blog.index"), status_code=302)
    if form.validate_on_submit():
        request.app.state.login.logout_user(request, response)
        flash(request, "You have been logged out.", "info")
    return response
