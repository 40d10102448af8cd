"""A server (or a proxy in front of it) that repeats the request's credentials in its error
answers, in every form in which a careless server, proxy or client library is known to show
them: exact, in another case, cut short, base64 (``Basic`` auth), percent-encoded.

``AccountBook(echo_keys=True)`` turns it on for every answer with a status of 400 or more,
whatever the endpoint (trading, bars, corporate actions) and whatever the cause (a refused key
401, an injected ``Fault``, an order refused on its merits, an unknown path 404). 502 and 504
answers come as a bare text (a JSON string, not Alpaca's object), as a proxy's error page does:
the daemon then reads them through its non-JSON path. Timeouts and dropped connections carry no
body, so nothing can be echoed there.

The forms are written out here on purpose, independently of the daemon's own list
(``daemon/infra/redaction.py``), and the labels between them avoid the words that the logs'
pattern-based masking reacts to (``secret=``, ``token:``), so a test passes only if masking by
value caught every form.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote

KEY_HEADER = "APCA-API-KEY-ID"
SECRET_HEADER = "APCA-API-SECRET-KEY"
# Answers a proxy, not Alpaca, would give: plain text rather than Alpaca's JSON object.
TEXT_STATUSES = frozenset({502, 504})


def _b64(text: str, *, url: bool = False, pad: bool = True) -> str:
    encode = base64.urlsafe_b64encode if url else base64.b64encode
    out = encode(text.encode("utf-8")).decode("ascii")
    return out if pad else out.rstrip("=")


def credential_forms(key: str, secret: str) -> dict[str, str]:
    """Every form of the key pair the echoing server repeats, by name."""
    pair = f"{key}:{secret}"
    percent_pair = quote(pair, safe="")
    forms = {
        "key id": key,
        "secret": secret,
        "key id, lower case": key.lower(),
        "secret, upper case": secret.upper(),
        "secret, lower case": secret.lower(),
        "secret, case swapped": secret.swapcase(),
        "secret without its last 4 characters": secret[:-4],
        "secret without its first 4 characters": secret[4:],
        "the secret's middle 24 characters": secret[8:32],
        "key id without its last 4 characters": key[:-4],
        "secret in a string": f"x{secret}y",
        "key id and secret run together": f"{key}{secret}",
        "key id and secret joined with a colon": pair,
        "base64 of key:secret": _b64(pair),
        "base64 of key:secret, unpadded": _b64(pair, pad=False),
        "URL-safe base64 of key:secret": _b64(pair, url=True),
        "URL-safe base64 of key:secret, unpadded": _b64(pair, url=True, pad=False),
        "base64 of key:secret, lower case": _b64(pair).lower(),
        "Basic credentials": f"Basic {_b64(pair)}",
        "base64 of the key id": _b64(key),
        "base64 of the key id, unpadded": _b64(key, pad=False),
        "base64 of the secret": _b64(secret),
        "base64 of the secret, unpadded": _b64(secret, pad=False),
        "URL-safe base64 of the secret": _b64(secret, url=True),
        "URL-safe base64 of the secret, unpadded": _b64(secret, url=True, pad=False),
        "base64 of key:secret inside a longer encoding": _b64(f'{{"basic":"{pair}"}}'),
        "percent-encoded secret": quote(secret, safe=""),
        "percent-encoded key:secret": percent_pair,
        "percent-encoded key:secret, lower-case hex": re.sub(
            r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), percent_pair
        ),
        "percent-encoded base64 of key:secret": quote(_b64(pair), safe=""),
        "a URL carrying them": f"https://proxy.invalid/v2/account?auth={percent_pair}",
    }
    return forms


def echo_credentials(status: int, body: Any, headers: Any) -> Any:
    """``body`` with every form of the request's key headers (``headers``, the request's) appended
    to its message. Labels are neutral (``#3 ...``), see the module docstring."""
    key, secret = headers.get(KEY_HEADER) or "", headers.get(SECRET_HEADER) or ""
    message = body.get("message", "") if isinstance(body, dict) else ""
    forms = list(credential_forms(key, secret).values()) if key and secret else [key or secret]
    listed = " ~ ".join(f"#{n} {form}" for n, form in enumerate(forms, 1))
    echoed = f"{message} (the request carried: {listed})"
    if status in TEXT_STATUSES:
        return f"<html><body><h1>{status}</h1><p>{echoed}</p></body></html>"
    return {**body, "message": echoed} if isinstance(body, dict) else {"message": echoed}
