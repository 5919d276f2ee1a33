"""tests/port/pubblog ported to FastAPI route by route with the kit: blog.py is
`migrate-gateway scaffold --convert` output, unedited; auth.py started as that output
and was edited (logout through the Flask-Login bridge; the login stub deleted, since
auth.login stays on Flask); app.py was written by hand.
"""
