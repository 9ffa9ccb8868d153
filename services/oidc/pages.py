"""The issuer's HTML pages: plain, accessible forms that work without JavaScript.

Every value is HTML-escaped; every page is served with a CSP that allows no script, no framing and
no caching. The pages never contain secrets other than the one-time code on the OOB page.
"""

from __future__ import annotations

from markupsafe import escape

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.5rem}label{display:block;margin-top:1rem;font-weight:600}
input{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;margin-top:.25rem}
button{font-size:1rem;padding:.6rem 1.2rem;margin-top:1.2rem;margin-right:.5rem;cursor:pointer}
.error{background:#fde8e8;border:1px solid #c81e1e;padding:.75rem;margin-top:1rem}
.note{color:#555;font-size:.9rem}.code{font-family:monospace;font-size:1.2rem;letter-spacing:.1em}
"""


def html_headers() -> list[tuple[str, str]]:
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
            "base-uri 'none'",
        ),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _error(message: str | None) -> str:
    return f'<p class="error" role="alert" id="form-error">{escape(message)}</p>' if message else ""


def _credentials(username: str, described: str) -> str:
    return (
        '<label for="username">Username</label>'
        f'<input id="username" name="username" type="text" autocomplete="username" required '
        f'autocapitalize="none" spellcheck="false" value="{escape(username)}"{described}>'
        '<label for="password">Password</label>'
        f'<input id="password" name="password" type="password" autocomplete="current-password" '
        f"required{described}>"
    )


def _method(method: str | None, other_ways: str | None) -> str:
    """Which way of signing in this form is, and a link back to the others."""
    out = f"<p>With <strong>{escape(method)}</strong>.</p>" if method else ""
    if other_ways:
        out += (
            f'<p class="note"><a href="{escape(other_ways)}">Choose another way to sign in</a></p>'
        )
    return out


def login(
    *,
    action: str,
    csrf: str,
    client_id: str,
    issuer: str,
    username: str = "",
    error: str | None = None,
    method: str | None = None,
    other_ways: str | None = None,
) -> str:
    described = ' aria-describedby="form-error"' if error else ""
    body = (
        "<h1>Sign in</h1>"
        f"<p>Sign in to <strong>{escape(issuer)}</strong> to get a signing identity for "
        f"<strong>{escape(client_id)}</strong>.</p>"
        f"{_method(method, None)}"
        f"{_error(error)}"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
        f"{_credentials(username, described)}"
        '<button type="submit">Sign in</button></form>'
        f"{_method(None, other_ways)}"
        '<p class="note">Your email address will be written into a public transparency log.</p>'
    )
    return _page("Sign in", body)


def choose(
    *, client_id: str, issuer: str, methods: list[tuple[str, str]], error: str | None = None
) -> str:
    """The ways to sign in, as links (``methods``: (href, name))."""
    links = "".join(
        f'<li><a href="{escape(href)}">{escape(name)}</a></li>' for href, name in methods
    )
    body = (
        "<h1>Sign in</h1>"
        f"<p>Sign in to <strong>{escape(issuer)}</strong> to get a signing identity for "
        f"<strong>{escape(client_id)}</strong>.</p>"
        f"{_error(error)}"
        f'<nav aria-label="Ways to sign in"><ul>{links}</ul></nav>'
        '<p class="note">Your email address will be written into a public transparency log.</p>'
    )
    return _page("Sign in", body)


def device_choose(
    *, action: str, user_code: str, issuer: str, methods: list[tuple[str, str]],
    error: str | None = None,
) -> str:  # fmt: skip
    """The device page's first step when there are several ways to sign in: the code, then a
    button per way (``methods``: (id, name)); a GET form, so it works without JavaScript."""
    described = ' aria-describedby="form-error"' if error else ""
    buttons = "".join(
        f'<button type="submit" name="connector_id" value="{escape(mid)}">'
        f"Continue with {escape(name)}</button>"
        for mid, name in methods
    )
    body = (
        "<h1>Approve a device sign-in</h1>"
        "<p>A program asked to sign in as you to "
        f"<strong>{escape(issuer)}</strong> for <strong>sigstore</strong>. Only continue if you "
        "started this yourself and the code below is the one it shows.</p>"
        f"{_error(error)}"
        f'<form method="get" action="{escape(action)}">'
        '<label for="user_code">Code shown by the device</label>'
        f'<input id="user_code" name="user_code" type="text" class="code" required '
        f'autocomplete="off" autocapitalize="characters" spellcheck="false" '
        f'placeholder="ABCD-EFGH" value="{escape(user_code)}"{described}>'
        f"{buttons}</form>"
    )
    return _page("Approve a device sign-in", body)


def device_upstream(
    *, action: str, csrf: str, user_code: str, login: str, email: str, method: str, issuer: str
) -> str:
    """Approve or deny, after signing in upstream: the identity is shown before the choice."""
    body = (
        "<h1>Approve a device sign-in</h1>"
        f"<p>You signed in with <strong>{escape(method)}</strong> as "
        f"<strong>{escape(email)}</strong>.</p>"
        "<p>A program asked to sign in as you to "
        f"<strong>{escape(issuer)}</strong> for <strong>sigstore</strong> with the code "
        f'<strong class="code">{escape(user_code)}</strong>. Only approve if you started this '
        "yourself and the program shows the same code.</p>"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
        f'<input type="hidden" name="user_code" value="{escape(user_code)}">'
        f'<input type="hidden" name="login" value="{escape(login)}">'
        '<button type="submit" name="decision" value="approve">Approve</button>'
        '<button type="submit" name="decision" value="deny">Deny</button></form>'
    )
    return _page("Approve a device sign-in", body)


def device(
    *,
    action: str,
    csrf: str,
    user_code: str,
    issuer: str,
    username: str = "",
    error: str | None = None,
    method: str | None = None,
    other_ways: str | None = None,
) -> str:
    described = ' aria-describedby="form-error"' if error else ""
    body = (
        "<h1>Approve a device sign-in</h1>"
        "<p>A program asked to sign in as you to "
        f"<strong>{escape(issuer)}</strong> for <strong>sigstore</strong>. Only continue if you "
        "started this yourself and the code below is the one it shows.</p>"
        f"{_method(method, other_ways)}"
        f"{_error(error)}"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
        '<label for="user_code">Code shown by the device</label>'
        f'<input id="user_code" name="user_code" type="text" class="code" required '
        f'autocomplete="off" autocapitalize="characters" spellcheck="false" '
        f'placeholder="ABCD-EFGH" value="{escape(user_code)}"{described}>'
        f"{_credentials(username, described)}"
        '<button type="submit" name="decision" value="approve">Approve</button>'
        '<button type="submit" name="decision" value="deny">Deny</button></form>'
    )
    return _page("Approve a device sign-in", body)


def device_done(approved: bool) -> str:
    if approved:
        body = (
            '<h1>Device approved</h1><p role="status">The device is now signed in. '
            "You can close this window.</p>"
        )
    else:
        body = (
            '<h1>Request denied</h1><p role="status">The device was not signed in. '
            "You can close this window.</p>"
        )
    return _page("Device sign-in", body)


def oob_code(code: str) -> str:
    body = (
        "<h1>Copy this code</h1>"
        "<p>Paste the code below into the program that asked you to sign in. "
        "It works once and only for a short time.</p>"
        '<label for="code">Verification code</label>'
        f'<input id="code" class="code" type="text" readonly value="{escape(code)}" '
        'autocomplete="off" spellcheck="false">'
    )
    return _page("Verification code", body)


def error(title: str, message: str) -> str:
    return _page(title, f"<h1>{escape(title)}</h1>{_error(message)}")
