"""``export-routes``: write the legacy app's route table to a file for an upstream gateway."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.common import app, err, fail
from gateway.loading import AppLoadError, load_flask_app
from gateway.routefile import RouteFileError, export_map

AppDirOption = Annotated[
    Path,
    typer.Option("--app-dir", help="Directory put first on the import path (default: .)"),
]


def load_from_dir(import_string: str, app_dir: Path) -> Any:
    """The Flask app, imported as ``flask --app`` or uvicorn would: ``app_dir`` first on
    ``sys.path``. Raises AppLoadError."""
    directory = str(app_dir.resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return load_flask_app(import_string)


@app.command("export-routes")
def export_routes(
    flask_app: Annotated[
        str, typer.Option("--app", help="Import string of the Flask app, e.g. 'blog:create_app()'")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write, e.g. routes.json")],
    app_dir: AppDirOption = Path("."),
) -> None:
    """Write the Flask app's route table (rule, methods, endpoint, converters, defaults,
    subdomain) to OUTPUT. Run it where the legacy app lives; the gateway reads the file
    (GATEWAY_LEGACY_ROUTES_FILE) instead of importing the app."""
    try:
        loaded = load_from_dir(flask_app, app_dir)
        data = export_map(loaded.url_map)
    except (AppLoadError, RouteFileError) as exc:
        fail(str(exc))
    output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    err.print(f"wrote {len(data['rules'])} rules to {output}", highlight=False)
