"""Hostile HTTP requests, generated from a seed: raw bytes, one request each.

Every request is built from a grammar of what real clients and attackers
send: the stack's own routes with good and junk parameters, every method,
Host and X-Forwarded-* headers from sane to absurd, cookies (a real session,
forged, truncated, oversized, a forged Flask cookie), and bodies of every
shape on the POST/PUT routes (forms with and without a CSRF token, multipart
good and broken, JSON of any shape and depth, binary, chunked framing), plus
admin payloads with a valid token. Deterministic for a seed, so a failure
reproduces.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field

Builder = Callable[["Context", random.Random], "Request"]


@dataclass
class Context:
    """What the generator knows about the stack it attacks."""

    host: str
    session_cookie: str  # "ssid=..." of a logged-in user
    csrf_token: str
    admin_token: str
    flag_keys: list[str]
    note_ids: list[int] = field(default_factory=lambda: [1, 2])


@dataclass
class Request:
    kind: str
    method: str
    target: str
    headers: list[tuple[str, str | bytes]]
    body: bytes = b""
    chunked: bool = False
    upgrade: bool = False  # a WebSocket handshake: "Connection: Upgrade", not close

    def encode(self) -> bytes:
        lines = [f"{self.method} {self.target} HTTP/1.1".encode("latin-1", "replace")]
        for name, value in self.headers:
            raw = value if isinstance(value, bytes) else value.encode("utf-8", "replace")
            lines.append(name.encode("latin-1", "replace") + b": " + raw)
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            body = b""
            for start in range(0, len(self.body), 97):
                piece = self.body[start : start + 97]
                body += b"%x\r\n%s\r\n" % (len(piece), piece)
            body += b"0\r\n\r\n"
        else:
            if self.body or self.method in ("POST", "PUT", "PATCH"):
                lines.append(b"Content-Length: %d" % len(self.body))
            body = self.body
        lines.append(b"Connection: Upgrade" if self.upgrade else b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


PAGES = [
    "/", "/home", "/notes", "/notes/1", "/notes/2", "/notes/export.csv", "/upload",
    "/profile", "/login", "/callback", "/api/me", "/api/notes", "/api/notes/1",
    "/static/style.css", "/static/app.js",
]  # fmt: skip
JUNK_SEGMENTS = [
    "%ff", "%00", "%2e%2e", "..", ".", "%", "%zz", "\u00e9", "\U0001f600", "a" * 300,
    "9" * 40, "-1", "1e9", "0x10", ";x=1", "%2F", "//", "\\", "<script>", "'", '"',
]  # fmt: skip
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW", "get"]


def _quote(text: str) -> str:
    # Raw targets: leave most junk as is, only spaces would break the line.
    return text.replace(" ", "%20")


def _path(rng: random.Random, ctx: Context) -> str:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(PAGES)
    if roll < 0.6:
        base = rng.choice(PAGES).rstrip("/")
        return _quote(base + "/" + rng.choice(JUNK_SEGMENTS))
    if roll < 0.7:
        return f"/notes/{rng.choice(['0', '-5', '99999999999999999999999', '1.5', 'x', '%31'])}"
    if roll < 0.8:
        return "/" + "/".join(rng.choice(JUNK_SEGMENTS) for _ in range(rng.randint(1, 6)))
    if roll < 0.9:
        query = "&".join(
            f"{rng.choice(['next', 'q', 'state', 'code', 'a[]', ''])}={rng.choice(JUNK_SEGMENTS)}"
            for _ in range(rng.randint(1, 5))
        )
        return _quote(rng.choice(PAGES) + "?" + query)
    return rng.choice(["/_gateway/health", "/_gateway/ready", "/_gateway/flags", "/_gateway/x"])


def _host(rng: random.Random, ctx: Context) -> list[tuple[str, str | bytes]]:
    roll = rng.random()
    if roll < 0.6:
        return [("Host", ctx.host)]
    choices: list[str | bytes] = [
        "a" * 70 + ".example.com",  # a label Werkzeug refuses (BadHost)
        "example.com:99999",
        "[::1]",
        "[::1",
        "",
        "exa mple.com",
        "localhost:x",
        "..",
        "\u00e9.example",
        b"\xff\xfe",
        "a." * 130,
        ctx.host + ":" + "9" * 10,
    ]
    headers: list[tuple[str, str | bytes]] = [("Host", rng.choice(choices))]
    if rng.random() < 0.1:
        headers.append(("Host", ctx.host))  # two Host headers
    return headers


def _forwarded(rng: random.Random) -> list[tuple[str, str | bytes]]:
    if rng.random() < 0.6:
        return []
    values: dict[str, list[str | bytes]] = {
        "X-Forwarded-For": ["203.0.113.7", "1.2.3.4, 5.6.7.8", "junk", "", "::1", "a" * 500],
        "X-Forwarded-Proto": ["https", "http", "gopher", "", "HTTPS, http"],
        "X-Forwarded-Host": ["evil.example", "", "a" * 300, "x:y:z"],
        "X-Forwarded-Prefix": ["/app", "../../", "", "%ff"],
        "Forwarded": ["for=1.2.3.4;proto=https", "junk;;;", 'for="[::1]"'],
        "X-Request-ID": ["ok-id-1", "\x7f" * 50, "a" * 300, ""],
        "X-Gateway-Force": ["new:deadbeef", "legacy", "", "new:" + "0" * 64],
    }
    names = rng.sample(sorted(values), rng.randint(1, 3))
    return [(name, rng.choice(values[name])) for name in names]


def _forged_flask_cookie(rng: random.Random) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({"user": {"sub": "mallory"}}).encode())
    return "session=" + payload.decode().rstrip("=") + ".ZzZzZz." + "A" * 27


def _cookies(rng: random.Random, ctx: Context) -> list[tuple[str, str | bytes]]:
    roll = rng.random()
    if roll < 0.35:
        return []
    if roll < 0.7:
        return [("Cookie", ctx.session_cookie)]
    name, _, value = ctx.session_cookie.partition("=")
    choices: list[str | bytes] = [
        f"{name}={value[:-3]}xyz",  # forged signature
        f"{name}={value[: len(value) // 2]}",  # truncated
        f"{name}=" + "A" * 5000,  # oversized
        f"{name}=" + base64.b64encode(rng.randbytes(40)).decode(),
        _forged_flask_cookie(rng),
        "session=eyJ4IjoxfQ.ZzZzZz.notasignature",
        f"{ctx.session_cookie}; {ctx.session_cookie}",
        "; ;;=;" + "a=b;" * 200,
        b"\xff\xfe=\x00\x01; gw_bucket=\x00",
        "gw_bucket=" + "A" * 22 + "; gw_force=new:00",
        f"{ctx.session_cookie}; gw_bucket=" + "B" * 4000,
    ]
    return [("Cookie", rng.choice(choices))]


def _json_value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 4 or roll < 0.3:
        return rng.choice([None, True, 0, -1, 1.5, 10**30, "x", "\u00e9" * 10, "", "a" * 2000])
    if roll < 0.65:
        return {
            rng.choice(["title", "body", "flag", "x", "", "\u00e9"]): _json_value(rng, depth + 1)
            for _ in range(rng.randint(0, 4))
        }
    return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def json_body(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.15:
        return b"[" * rng.choice([1000, 10_000, 100_000])
    if roll < 0.25:
        return b'{"a":' * rng.choice([1000, 20_000]) + b"1" + b"}" * 10
    if roll < 0.35:
        return rng.choice([b"", b"{", b"nul", b"\xff\xfe", b'{"title": "\xff"}', b"1e999999"])
    if roll < 0.45:
        return json.dumps({"title": "fuzz", "body": "x" * rng.randint(0, 3000)}).encode()
    return json.dumps(_json_value(rng)).encode()


def _form_body(rng: random.Random, ctx: Context) -> tuple[str, bytes]:
    roll = rng.random()
    token = ctx.csrf_token if rng.random() < 0.6 else rng.choice(["", "forged", "a" * 500])
    if roll < 0.5:
        title = rng.choice(["fuzz note", "", "x" * 400, "\u00e9\U0001f600", "<b>"])
        return "application/x-www-form-urlencoded", (
            f"csrf_token={token}&title={title}&body={rng.choice(JUNK_SEGMENTS)}"
        ).encode("utf-8", "replace")
    if roll < 0.8:
        boundary = "fuzzb0undary"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}',
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
            f"Content-Type: text/plain\r\n\r\n{'z' * rng.randint(0, 5000)}",
        ]
        body = "\r\n".join(parts) + f"\r\n--{boundary}--\r\n"
        if rng.random() < 0.3:
            body = body[: rng.randint(0, len(body))]  # cut short
        return f"multipart/form-data; boundary={boundary}", body.encode()
    content_type = rng.choice(
        ["multipart/form-data", "multipart/form-data; boundary=", "text/plain", "", "a/b; c=\xff"]
    )
    return content_type, rng.randbytes(rng.randint(0, 2000))


def page_request(ctx: Context, rng: random.Random) -> Request:
    method = rng.choice(METHODS) if rng.random() < 0.3 else "GET"
    headers = _host(rng, ctx) + _cookies(rng, ctx) + _forwarded(rng)
    return Request("page", method, _path(rng, ctx), headers)


def form_post(ctx: Context, rng: random.Random) -> Request:
    target = rng.choice(["/notes", "/upload", "/notes/1/delete", "/notes/99/delete", "/login"])
    content_type, body = _form_body(rng, ctx)
    headers = [("Host", ctx.host), *_cookies(rng, ctx), ("Content-Type", content_type)]
    if rng.random() < 0.2:
        headers.append(("X-CSRF-Token", ctx.csrf_token))
    return Request("form", "POST", target, headers, body, chunked=rng.random() < 0.2)


def api_request(ctx: Context, rng: random.Random) -> Request:
    method, target = rng.choice(
        [
            ("POST", "/api/notes"),
            ("POST", "/api/notes"),
            ("DELETE", f"/api/notes/{rng.choice(['1', '2', '77', 'x'])}"),
            ("PUT", "/api/notes/1"),
            ("GET", "/api/notes"),
        ]
    )
    content_type = rng.choice(
        ["application/json", "application/json; charset=latin-1", "text/plain", "", "x/y+json"]
    )
    headers = [("Host", ctx.host), *_cookies(rng, ctx), ("Content-Type", content_type)]
    if rng.random() < 0.5:
        headers.append(("X-CSRF-Token", ctx.csrf_token))
    body = json_body(rng) if method in ("POST", "PUT") else b""
    return Request("api", method, target, headers, body, chunked=rng.random() < 0.15)


def admin_request(ctx: Context, rng: random.Random) -> Request:
    key = rng.choice([*ctx.flag_keys, "no.such.route", "%ff", "a" * 300, "static"])
    roll = rng.random()
    if roll < 0.25:
        # Mostly towards the new app, so both apps keep getting traffic.
        flag = rng.choice(["new", "new", "canary 50", "shadow", "legacy"])
        body = json.dumps({"flag": flag}).encode()
    elif roll < 0.5:
        body = json.dumps({"flag": _json_value(rng)}).encode()
    else:
        body = json_body(rng)
    auth = rng.choice(
        [f"Bearer {ctx.admin_token}"] * 3 + ["Bearer wrong", "", "Basic eDp5", "Bearer"]
    )
    headers: list[tuple[str, str | bytes]] = [
        ("Host", ctx.host),
        ("Content-Type", "application/json"),
    ]
    if auth:
        headers.append(("Authorization", auth))
    method = rng.choice(["PUT", "PUT", "PUT", "GET", "POST", "DELETE"])
    if method == "GET":
        # The read endpoints (a GET on one flag is a 405, as POST and DELETE are).
        target = rng.choice(["flags", "routes", "shadow", "fallbacks", f"flags/{key}"])
        return Request("admin", method, f"/_gateway/{target}", headers, b"")
    return Request("admin", method, f"/_gateway/flags/{key}", headers, body)


def admin_bulk_request(ctx: Context, rng: random.Random) -> Request:
    # Bulk flips (targets and patterns of any shape, reasons of any type) and
    # the audit trail's limit.
    headers: list[tuple[str, str | bytes]] = [
        ("Host", ctx.host),
        ("Content-Type", "application/json"),
        ("Authorization", rng.choice([f"Bearer {ctx.admin_token}"] * 3 + ["Bearer wrong"])),
    ]
    if rng.random() < 0.3:
        limit = rng.choice(["1", "50", "0", "-3", "x", "9" * 30, ""])
        return Request("admin", "GET", f"/_gateway/audit?limit={limit}", headers)
    if rng.random() < 0.5:
        body = json_body(rng)
    else:
        pattern = rng.choice(["*", "api.*", "webapp.note*", "[", ""])
        shape = rng.choice([{"match": pattern}, {"targets": rng.sample(ctx.flag_keys, 2)}])
        flag = rng.choice(["new", "new", "legacy", "canary 50", "x"])
        body = json.dumps({**shape, "flag": flag, "reason": _json_value(rng)}).encode()
    return Request("admin", "POST", "/_gateway/flips", headers, body)


def raw_junk(ctx: Context, rng: random.Random) -> Request:
    # Requests at the edge of HTTP itself; the server may answer 400 or close.
    target = rng.choice(["/", "*", "http://other.example/x", "/notes HTTP/1.1", "/%00", "/\t/"])
    headers: list[tuple[str, str | bytes]] = [("Host", ctx.host)]
    if rng.random() < 0.5:
        headers.append(
            (rng.choice(["X-\u00e9", "Bad Header", "X-Long"]), "v" * rng.randint(1, 9000))
        )
    return Request("raw", rng.choice(["GET", "POST", "G ET", ""]), target, headers)


def session_growth(ctx: Context, rng: random.Random) -> Request:
    # A logged-in user who starts many logins (each leaves authlib state in the
    # session) and posts notes (each leaves a flash): the session grows past
    # its size limit, and the user must still get answers.
    if rng.random() < 0.6:
        return Request(
            "growth", "GET", "/login", [("Host", ctx.host), ("Cookie", ctx.session_cookie)]
        )
    body = f"csrf_token={ctx.csrf_token}&title=grow&body={'g' * 2000}".encode()
    headers: list[tuple[str, str | bytes]] = [
        ("Host", ctx.host),
        ("Cookie", ctx.session_cookie),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
    return Request("growth", "POST", "/notes", headers, body)


def websocket_upgrade(ctx: Context, rng: random.Random) -> Request:
    # A WebSocket handshake to pages of both apps and to the admin API; none
    # of them is a WebSocket endpoint, so every one must be refused (403).
    target = rng.choice(
        [*PAGES, "/_gateway", "/_gateway/", "/_gateway/health", "/_gateway/flags", "/nope"]
    )
    headers: list[tuple[str, str | bytes]] = [
        ("Host", ctx.host),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", rng.choice(["13", "8", "x"])),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ]
    if rng.random() < 0.5:
        headers.append(("Cookie", ctx.session_cookie))
    return Request("websocket", "GET", target, headers, upgrade=True)


# Weights: pages most, then bodies on every POST/PUT route, admin payloads,
# a growing session, raw junk.
BUILDERS: list[tuple[Builder, int]] = [
    (page_request, 46),
    (form_post, 16),
    (api_request, 14),
    (admin_request, 12),
    (admin_bulk_request, 3),
    (session_growth, 8),
    (raw_junk, 4),
    (websocket_upgrade, 2),
]


def generate(ctx: Context, count: int, seed: int) -> list[Request]:
    """``count`` requests for the seed (the same list every time)."""
    rng = random.Random(seed)
    builders = [builder for builder, _ in BUILDERS]
    weights = [weight for _, weight in BUILDERS]
    return [rng.choices(builders, weights)[0](ctx, rng) for _ in range(count)]
