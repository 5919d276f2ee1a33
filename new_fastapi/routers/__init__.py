"""One APIRouter per Flask blueprint, each route named after its Flask endpoint."""
