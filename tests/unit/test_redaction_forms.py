"""Masking catches the forms in which a server or a proxy repeats the keys, not only their exact
values: another case, long fragments, base64 and percent-encodings (the rule is in
``daemon/infra/redaction.py``), and leaves ordinary text alone."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from alpaca.common.exceptions import APIError

from daemon.adapters.alpaca.errors import classify
from daemon.infra.redaction import (
    FRAGMENT_LENGTH,
    MASK,
    forget_secrets,
    forms,
    redact_text,
    register_secrets,
)
from tests.alpaca_server.echo import credential_forms

KEY = "PKFORMS4E7R1T9Y3U5I2"
SECRET = "Fm7Qx2Lp9Wd4/Rt6Yh1Ks8+Nb3Vc5Zj0Ga7Ue2Oi"
# '~' and '?' in the right places put '+' and '/' in the base64: the URL-safe alphabet differs.
ODD_SECRET = "Sx9~Lm2?Qa7~Zp4?Wd1~Rt8?Yh3~Ks6?Nb5~Vc0?"


@pytest.fixture(autouse=True)
def registry() -> Iterator[None]:
    forget_secrets()
    register_secrets([KEY, SECRET])
    yield
    forget_secrets()


def _clean(text: str, *values: str) -> bool:
    low = text.lower()
    for value in values or (KEY, SECRET):
        v = value.lower()
        if any(v[i : i + FRAGMENT_LENGTH] in low for i in range(len(v) - FRAGMENT_LENGTH + 1)):
            return False
    return True


@pytest.mark.parametrize("name", list(credential_forms(KEY, SECRET)))
def test_every_echoed_form_is_masked_and_the_text_around_it_kept(name: str) -> None:
    form = credential_forms(KEY, SECRET)[name]
    out = redact_text(f"refused: <<{form}>> (HTTP 403)")
    assert form not in out and form.lower() not in out.lower()
    assert out.startswith("refused: <<") and out.endswith(">> (HTTP 403)") and MASK in out
    assert _clean(out)
    assert _clean(out, base64.b64encode(f"{KEY}:{SECRET}".encode()).decode())


def test_an_exact_form_is_masked_whole() -> None:
    pair = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    for form in (KEY, SECRET.upper(), pair, f"Basic {pair}", quote(f"{KEY}:{SECRET}", safe="")):
        assert redact_text(f"[{form}]") in (f"[{MASK}]", f"[Basic {MASK}]")


def test_the_fragment_rule_is_twelve_characters() -> None:
    assert FRAGMENT_LENGTH == 12
    long_enough = SECRET[10 : 10 + FRAGMENT_LENGTH]
    too_short = SECRET[10 : 10 + FRAGMENT_LENGTH - 1]
    assert redact_text(f"a {long_enough} b") == f"a {MASK} b"
    assert redact_text(f"a {too_short} b") == f"a {too_short} b"
    # The last four characters of the key id, which AlpacaCredentials' repr shows, stay.
    assert redact_text(f"key ...{KEY[-4:]}") == f"key ...{KEY[-4:]}"


def test_a_fragment_is_masked_to_its_full_length_and_neighbours_are_kept() -> None:
    assert redact_text(f"x{SECRET[:-4]}WXYZ") == f"x{MASK}WXYZ"
    assert redact_text(f"{SECRET}{SECRET}") == MASK
    assert redact_text(f"{KEY} / {SECRET}") == f"{MASK} / {MASK}"


def test_base64_inside_a_longer_encoding_is_masked_at_every_alignment() -> None:
    for prefix in ("", "a", "ab", '{"auth": "'):
        blob = base64.b64encode(f"{prefix}{SECRET} and more".encode()).decode()
        head, mask, tail = redact_text(f"token {blob}").removeprefix("token ").partition(MASK)
        # Left: the prefix's characters and the one mixing it with the secret; right: " and
        # more" (12 characters) and the one mixing it with the secret.
        assert mask and len(head) <= -(-len(prefix) * 4 // 3) and len(tail.rstrip("=")) <= 13, blob


def test_both_base64_alphabets_with_and_without_padding() -> None:
    register_secrets([KEY, ODD_SECRET])  # a second key pair, registered together
    pair = f"{KEY}:{ODD_SECRET}".encode()
    standard = base64.b64encode(pair).decode()
    urlsafe = base64.urlsafe_b64encode(pair).decode()
    assert "+" in standard and "/" in standard and standard != urlsafe
    for form in (standard, standard.rstrip("="), urlsafe, urlsafe.rstrip("="), quote(standard)):
        assert redact_text(f"<{form}>") == f"<{MASK}>", form


def test_percent_encodings_upper_and_lower_case_hex() -> None:
    encoded = quote(f"{KEY}:{SECRET}", safe="")
    assert "%2F" in encoded and "%3A" in encoded
    for form in (encoded, encoded.lower(), quote(SECRET, safe="")):
        assert redact_text(f"?auth={form}&x=1") == f"?auth={MASK}&x=1"


def test_ordinary_text_ids_and_numbers_are_left_alone() -> None:
    texts = [
        "Alpaca refused the request while reading the account: forbidden. (HTTP 403)",
        f"order {uuid.uuid4()} client id pairs-3f2a9c1e7b-20240102-0-a filled 13 @ 101.25",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "equity 100000.000000 cash -12345.678900 positions {'AAA': 10, 'BBB': -7}",
        "İstanbul ﬁle straße ΣΑΣ",  # characters whose lower case changes length
        "",
    ]
    for text in texts:
        assert redact_text(text) == text


def test_text_whose_lower_case_changes_length_is_masked_in_the_right_place() -> None:
    out = redact_text(f"İİ {SECRET.lower()} İ")
    assert out == f"İİ {MASK} İ"


def test_the_forms_are_computed_once_per_registration() -> None:
    listed = forms([KEY, SECRET])
    assert KEY.lower() in listed and SECRET.lower() in listed
    assert base64.b64encode(f"{KEY}:{SECRET}".encode()).decode().lower() in listed
    line = json.dumps(
        {
            "event": "alpaca_retry",
            "request": "submitting order pairs-abc-20240102-0-a",
            "error": "internal server error occurred (HTTP 500, code 50010000)",
            "timestamp": "2024-01-02T21:30:00.123456Z",
            "run_id": "0123456789abcdef",
        }
    )
    start = time.perf_counter()
    for _ in range(2000):
        redact_text(line)
    per_line = (time.perf_counter() - start) / 2000
    assert per_line < 1e-3  # a few microseconds in practice; generous for loaded machines


def test_a_json_escaped_echo_is_masked_after_decoding() -> None:
    escaped = SECRET.replace("/", "\\/")  # how some servers write '/' in JSON
    unicode = "".join(f"\\u{ord(c):04x}" for c in KEY)
    body = f'{{"code": 40310000, "message": "bad keys {unicode} {escaped}"}}'
    response = requests.Response()
    response.status_code = 403
    failure = classify(APIError(body, requests.HTTPError(response=response)))
    assert failure is not None and failure.status == 403
    assert failure.message.count(MASK) == 2 and _clean(failure.message)


def test_only_values_registered_together_are_paired() -> None:
    listed = forms([KEY, SECRET], [(KEY, SECRET)])
    assert f"{KEY}:{SECRET}".lower() in listed and f"{SECRET}:{KEY}".lower() not in listed
    register_secrets([ODD_SECRET])  # alone: no pair with KEY or SECRET
    assert redact_text(f"{SECRET[:20]}:{ODD_SECRET[-20:]}") == f"{MASK}:{MASK}"
