"""``/devicelogin``: the page a device-code sign-in sends the person to, as Entra's own does.

The device-code answer names ``{emulator}/devicelogin`` as its ``verification_uri``,
so the URL the sign-in helper prints must open something: a form to enter the
code, and approve (the person signed in, with multi-factor authentication) or
decline it. ``POST /devicelogin`` with the form field ``code`` (and ``action=decline``
to refuse) does what the buttons do, so ``curl -d code=...`` approves without a
browser. Tests keep using ``Emulator.approve_device_code``; this is for people.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from .devicecode import DeviceCodes
from .messages import Request, Response

DEVICE_LOGIN_PATH = "/devicelogin"

_STYLE = (
    "body{font-family:'Segoe UI',-apple-system,BlinkMacSystemFont,Roboto,sans-serif;font-size:15px;"
    "color:#1b1b1b;background:#f2f2f2;margin:0}"
    ".box{max-width:440px;margin:10vh auto 0;padding:44px;background:#fff;box-shadow:0 2px 6px #0003}"
    "h1{font-size:24px;font-weight:600;margin:0 0 12px}p{line-height:20px}"
    "input{width:100%;padding:6px 10px;font-size:15px;box-sizing:border-box;margin-bottom:16px;"
    "text-transform:uppercase}button{min-width:108px;padding:4px 12px;font-size:15px;margin-right:8px}"
    ".note{font-size:12px;color:#616161;margin-top:24px}"
)


def is_device_login_path(path: str) -> bool:
    return path.rstrip("/") == DEVICE_LOGIN_PATH


def handle_device_login(request: Request, codes: DeviceCodes) -> Response:
    """``GET``: the form (``?code=`` fills it in); ``POST``: approve or decline the code given."""
    if request.method == "GET":
        return _page(200, "Enter code", _form(request.param("code") or ""))
    if request.method != "POST":
        return _page(405, "Method not allowed", "<p>Open this page in a browser.</p>")
    form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
    user_code = (form.get("code") or request.param("code") or "").strip().upper()
    action = (form.get("action") or "approve").lower()
    if action not in ("approve", "decline"):
        return _page(400, "Enter code", "<p>action must be approve or decline.</p>" + _form(user_code))
    try:
        if action == "approve":
            codes.approve(user_code)
        else:
            codes.decline(user_code)
    except KeyError:
        return _page(
            400, "Enter code", "<p>That code didn't work. Check the code and try again.</p>" + _form("")
        )
    except ValueError as error:  # approved, declined or redeemed already
        return _page(409, "Enter code", f"<p>{html.escape(str(error))}.</p>" + _form(""))
    if action == "decline":
        return _page(200, "Sign-in declined", "<p>You declined the sign-in. You can close this window.</p>")
    return _page(
        200,
        "You're signed in",
        "<p>You have signed in to the application on your device (as the emulator's Executive Report "
        "Viewer, with multi-factor authentication). You may now close this window.</p>",
    )


def _form(code: str) -> str:
    return (
        "<p>Enter the code displayed by the application that asks you to sign in.</p>"
        f'<form method="post" action="{DEVICE_LOGIN_PATH}">'
        f'<input name="code" placeholder="Code" autocomplete="off" value="{html.escape(code)}" autofocus>'
        '<button type="submit" name="action" value="approve">Approve</button>'
        '<button type="submit" name="action" value="decline">Decline</button></form>'
    )


def _page(status: int, title: str, content: str) -> Response:
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style>'
        f'</head><body><div class="box"><h1>{html.escape(title)}</h1>{content}'
        '<p class="note">Partner Center Insights emulator: approving stands for a person who signed '
        "in with multi-factor authentication.</p></div></body></html>"
    )
    return Response(status, page.encode(), content_type="text/html; charset=utf-8")
