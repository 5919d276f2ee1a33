"""Where the templates and static files live on disk (one copy for both apps).

This module imports nothing from Flask, so ``new_fastapi`` can point its
Jinja loader and ``StaticFiles`` at the very same folders.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

# Application-wide layout and error pages (Flask's app ``templates/`` folder).
APP_TEMPLATE_FOLDER = PACKAGE_DIR / "templates"
# Each blueprint's own ``templates/`` folder, in blueprint registration order.
BLUEPRINT_TEMPLATE_FOLDERS: dict[str, Path] = {
    "webapp": PACKAGE_DIR / "webapp" / "templates",
    "auth": PACKAGE_DIR / "auth" / "templates",
}
# Flask searches the app folder first, then each blueprint's in order.
TEMPLATE_FOLDERS: list[Path] = [APP_TEMPLATE_FOLDER, *BLUEPRINT_TEMPLATE_FOLDERS.values()]
STATIC_FOLDER = PACKAGE_DIR / "static"
