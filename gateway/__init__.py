"""Gateway: an ASGI app that serves each route from the legacy Flask app or the
new FastAPI app according to live per-route flags. Start with gateway.app.create_gateway."""
