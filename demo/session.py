"""The demo's sign-in: a user name in an HMAC-signed session cookie.

The web side sets it (``POST /login``); the hub's ``on_connect`` reads it back from the
headers Centrifugo forwards (``proxy.forward_headers: [cookie]``), so the browser never
sends a user id the server would have to trust.

    value = sign("alice")          # 'alice.1733380000.9f2c...'
    user_of(value)                 # 'alice'; None when forged, expired or malformed
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from http.cookies import CookieError, SimpleCookie

COOKIE = "demo_session"
#: How long a sign-in lasts (seconds).
MAX_AGE = 24 * 3600
#: Demo value only: a real app keeps its signing secret out of the code (here: DEMO_SESSION_SECRET).
SECRET = os.environ.get("DEMO_SESSION_SECRET", "demo-session-secret-change-me").encode()
NAME = re.compile(r"[A-Za-z0-9_-]{1,24}")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot sign in, or None."""
    if not name:
        return "Enter a name to sign in."
    if not NAME.fullmatch(name):
        return "A name is 1 to 24 letters, digits, '-' or '_'."
    return None


def _signature(payload: str) -> str:
    return hmac.new(SECRET, payload.encode(), hashlib.sha256).hexdigest()


def sign(user: str, *, now: float | None = None) -> str:
    """The cookie value for ``user`` (a valid name)."""
    payload = f"{user}.{int(time.time() if now is None else now)}"
    return f"{payload}.{_signature(payload)}"


def user_of(value: str | None, *, now: float | None = None) -> str | None:
    """The user a cookie value names, if its signature holds and it has not expired."""
    user, _, rest = (value or "").partition(".")
    issued, _, signature = rest.partition(".")
    if name_problem(user) or not issued.isdigit():
        return None
    if not hmac.compare_digest(signature, _signature(f"{user}.{issued}")):
        return None
    age = (time.time() if now is None else now) - int(issued)
    return user if 0 <= age <= MAX_AGE else None


def user_of_header(cookie_header: str | None) -> str | None:
    """The signed-in user of a ``Cookie:`` header (as Centrifugo forwards it), or None."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header or "")
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return user_of(morsel.value if morsel else None)
