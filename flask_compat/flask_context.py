"""Flask's app and request contexts around a FastAPI endpoint, for code that needs them.

Flask extensions reach their state through Flask's contexts: Flask-SQLAlchemy's
``db.session`` and ``Model.query`` need an app context, as do ``current_app``
and anything configured from ``app.config``. A route declared with
``dependencies=[FlaskContext]`` runs its endpoint inside the app and request
contexts of its request (the request's own ``g`` and session, the same ones
the kit's templates see), so a view body ported from Flask can keep calling
``db.session`` as it did. The request's end pops them, which runs the Flask
app's teardown functions (Flask-SQLAlchemy's ``db.session.remove()``).

::

    from flask_compat import FlaskContext

    @router.get("/user/{username}", name="main.user", dependencies=[FlaskContext])
    def user(username: str, request: Request):
        user = db.first_or_404(db.select(User).filter_by(username=username))
        ...

The body stays with FastAPI: ``flask.request.form`` is empty inside (read
the form the FastAPI way, or with ``flask_compat.forms``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, Request

from flask_compat.state import state_for


async def flask_context(request: Request) -> AsyncIterator[None]:
    """Dependency: push Flask's app and request contexts for the endpoint's run.

    Pushed in the request's task, so a ``def`` endpoint, which FastAPI runs in
    a worker thread with a copy of the task's context variables, sees them too.
    """
    state = state_for(request)
    with state.current(), state.flask_context():
        yield


# `dependencies=[FlaskContext]`: the endpoint runs inside Flask's contexts.
FlaskContext = Depends(flask_context)
