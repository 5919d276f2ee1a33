"""An app shaped like the Flask tutorial's flaskr: an app factory, an ``auth``
blueprint keeping its users in a module-level ``USERS`` dict, and the hook that
loads the user (``before_app_request``) here, in another module that imports it."""

from flask import Flask, g, session

from flaskr.auth import USERS, bp


@bp.before_app_request
def load_logged_in_user():
    name = session.get("user")
    g.user = name if name in USERS else None


def create_app():
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "flaskr-test-secret"
    app.register_blueprint(bp)
    return app
