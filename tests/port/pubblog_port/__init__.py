"""tests/port/pubblog ported to FastAPI route by route with the kit: `migrate-gateway
scaffold --convert` wrote blog.py and auth.py, then a person edited them (kit.py and
app.py are theirs). Routes not ported yet were deleted from the scaffold, so the
gateway keeps sending them to Flask and `migrate-gateway status` lists them as missing.
"""
