"""A small blog written the way public Flask apps are (the Flask tutorial, Miguel
Grinberg's mega-tutorial): an app factory, blueprints with url_prefix, Flask-Login
with remember-me, Flask-WTF forms, g.user in the base template, flashes, links
across blueprints, per-blueprint static files, custom filters, a context processor.

It knows nothing of this project: tests/port/ ports it to FastAPI with the kit.
"""

from flask import Flask, g, redirect, url_for
from flask_login import current_user

from .extensions import csrf, login_manager
from .filters import register_filters
from .models import store


def create_app(test_config=None):
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(
        SECRET_KEY="dev",
        SITE_NAME="Pub Blog",
        POSTS_PER_PAGE=5,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)

    login_manager.init_app(app)
    csrf.init_app(app)
    register_filters(app)

    from . import auth, blog

    app.register_blueprint(auth.bp)
    app.register_blueprint(blog.bp)

    @app.before_request
    def load_logged_in_user():
        g.user = current_user if current_user.is_authenticated else None

    @app.context_processor
    def inject_site():
        return {"site_name": app.config["SITE_NAME"], "post_count": len(store.posts)}

    @app.route("/")
    def home():
        return redirect(url_for("blog.index"))

    return app
