"""The porting assistant: a FastAPI router module written from a Flask blueprint.

``scaffold_module(flask_app, "blog")`` returns the module's source: each rule
with its path (converters as typed path parameters), methods and the Flask
endpoint as route name; with ``convert=True`` the view bodies are rewritten
(flask_compat.scaffold.convert) and what cannot be converted is kept as a
comment above a 501 answer. The CLI is ``migrate-gateway scaffold``.
"""

from flask_compat.scaffold.module import scaffold_module
from flask_compat.scaffold.routes import ScaffoldError, blueprint_views, fastapi_path

__all__ = ["ScaffoldError", "blueprint_views", "fastapi_path", "scaffold_module"]
