def datefmt(value, fmt="%d %b %Y"):
    return value.strftime(fmt)


def excerpt(text, length=40):
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def register_filters(app):
    app.add_template_filter(datefmt)
    app.add_template_filter(excerpt)
