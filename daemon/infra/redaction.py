"""Redaction by value: the actual secret strings (the Alpaca key id and secret) are masked in any
text that leaves the process or enters the store, whatever surrounds them, and so are the forms
in which a server, a proxy or a client library is likely to repeat them.

Pattern-based masking (``secret=...``) misses a key echoed bare in an error body by a proxy or a
misconfigured server; masking the known values does not. The values are registered where they
enter the process (:func:`daemon.adapters.alpaca.clients.load_credentials`, and the command line from its
environment) and the registry is process-wide because secrets are: every logger, error message
and store write in the process must hide the same strings.

What is masked (``docs/daemon.md``, "Secrets in logs and in the store", says the same): for
every registered value ``v`` (at least :data:`MIN_SECRET_LENGTH` characters) and every two values
registered together (a key id and its secret) joined as ``a:b`` either way round (HTTP Basic
credentials, ``key:secret``), the *forms*

- the text itself;
- its base64 encoding, standard (``+/``) and URL-safe (``-_``) alphabets, with or without ``=``
  padding, also inside a longer encoded text (``Basic <base64>``, a base64 JSON blob): the
  characters that depend on ``v`` alone are listed for each of the three byte alignments;
- the percent-encoding (URL) of each of the above, where it differs;

and in each form **any run of at least** :data:`FRAGMENT_LENGTH` **(12) consecutive characters**
(a "long fragment"), matched **case-insensitively**, is replaced, extended to the longest run
that still matches, by ``[REDACTED]``. A form shorter than 12 characters is masked whole only,
and a 12-character run of a form with fewer than :data:`MIN_DISTINCT` (6) distinct characters
(twelve zeros of a placeholder secret) is no fragment: it would cut numbers apart.

Why 12: a secret cut short (its last four characters dropped, a line cut at 200 characters)
still shows 36 of its 40 characters, and a key id 16 of its 20, so a fragment rule is needed;
12 characters of a random base62 secret are about 71 bits, which no ordinary word, number,
order id (UUID, ``pairs-...`` client id) or hex digest repeats by chance, while the shortest
fragments that still matter (a third of a secret, most of a key id) are longer than that.
Shorter pieces are not masked: 11 characters of a 40-character secret leave 29 unknown, and
masking them would start to mangle ordinary text. The key id's last four characters, which
:class:`~daemon.adapters.alpaca.clients.AlpacaCredentials` shows to tell keys apart, are far
below the limit.

Not covered: other encodings (hex, ``\\uXXXX`` escapes, double URL-encoding, encryption); a
secret split by inserted characters. Error bodies are masked before and after JSON decoding
(``daemon/adapters/alpaca/errors.py``), which undoes the escapes a server may apply.

Speed: the forms, their 12-character windows and the 6-character pieces of those windows are
computed once per set of registered values. A text is lowered once and looked up at every 7th
position in the set of 6-character pieces (every run of 12 characters contains one of those
positions); only a hit, which ordinary text practically never has, leads to the full check.
A log line costs a few microseconds.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import permutations
from urllib.parse import quote

MASK = "[REDACTED]"
# Shorter strings are not credentials and masking them would mangle ordinary text.
MIN_SECRET_LENGTH = 6
# The shortest run of a secret's characters (of any of its forms) that is masked; see above.
FRAGMENT_LENGTH = 12
# A fragment window must hold this many distinct characters: a run such as twelve zeros (a
# placeholder secret, a padded id) is no evidence of a secret, and masking it would cut
# numbers and JSON apart. The whole form is still masked wherever it appears.
MIN_DISTINCT = 6
# The piece looked up while scanning, and the stride that cannot skip a whole fragment.
_PIECE = 6
_STRIDE = FRAGMENT_LENGTH - _PIECE + 1


def _b64_cores(data: bytes) -> Iterator[str]:
    """The base64 characters that depend on ``data`` alone, for each of the three alignments
    ``data`` can have inside a longer encoded text; also the whole encoding, padded."""
    yield base64.b64encode(data).decode("ascii")
    for align in range(3):
        text = base64.b64encode(b"\0" * align + data).decode("ascii").rstrip("=")
        start = -(-align * 8 // 6)  # the first character made of data bits only
        stop = len(text) - (1 if (align + len(data)) % 3 else 0)  # the last one mixes zeros
        if stop > start:
            yield text[start:stop]


def forms(values: Iterable[str], pairs: Iterable[tuple[str, str]] | None = None) -> list[str]:
    """Every form masked for ``values`` and the ``pairs`` of them (by default every two),
    lowered, distinct (see the module docstring)."""
    values = list(dict.fromkeys(values))
    pairs = permutations(values, 2) if pairs is None else pairs
    plain = values + [f"{a}:{b}" for a, b in pairs]
    found: list[str] = []
    for text in plain:
        encoded = list(_b64_cores(text.encode("utf-8")))
        encoded += [e.replace("+", "-").replace("/", "_") for e in encoded]
        for form in [text, *encoded]:
            found.append(form)
            found.append(quote(form, safe=""))
    return [f for f in dict.fromkeys(f.lower() for f in found) if f]


@dataclass(frozen=True, slots=True)
class _Matcher:
    """The precomputed lookups for one set of registered values."""

    forms: tuple[str, ...]
    # window (FRAGMENT_LENGTH lowered characters) -> (form index, offset) of every occurrence
    windows: dict[str, tuple[tuple[int, int], ...]]
    pieces: frozenset[str]  # every _PIECE-character piece of every window
    short: tuple[str, ...]  # forms shorter than a window: matched whole
    shortest: int  # a text shorter than this holds nothing to mask

    @classmethod
    def build(cls, values: Iterable[str], pairs: Iterable[tuple[str, str]]) -> _Matcher:
        all_forms = tuple(forms(values, pairs))
        windows: dict[str, list[tuple[int, int]]] = {}
        for index, form in enumerate(all_forms):
            for offset in range(len(form) - FRAGMENT_LENGTH + 1):
                window = form[offset : offset + FRAGMENT_LENGTH]
                if len(set(window)) < MIN_DISTINCT:
                    continue  # "000000000000" would mask every long number in a log line
                windows.setdefault(window, []).append((index, offset))
        pieces = frozenset(
            w[i : i + _PIECE] for w in windows for i in range(FRAGMENT_LENGTH - _PIECE + 1)
        )
        short = tuple(f for f in all_forms if len(f) < FRAGMENT_LENGTH)
        shortest = min((len(f) for f in short), default=FRAGMENT_LENGTH)
        return cls(all_forms, {w: tuple(at) for w, at in windows.items()}, pieces, short, shortest)

    def spans(self, low: str) -> list[tuple[int, int]]:
        """Where ``low`` (a lowered text) holds a form's long fragment or a short form whole."""
        found: set[tuple[int, int]] = set()
        # (form, offset - start) -> where the run already extended along that alignment ends:
        # a later window on the same alignment inside it would find the same run again.
        reached: dict[tuple[int, int], int] = {}
        for pos in range(0, len(low) - _PIECE + 1, _STRIDE):
            if low[pos : pos + _PIECE] not in self.pieces:
                continue
            for start in range(max(0, pos - (FRAGMENT_LENGTH - _PIECE)), pos + 1):
                for index, offset in self.windows.get(low[start : start + FRAGMENT_LENGTH], ()):
                    alignment = (index, offset - start)
                    if reached.get(alignment, -1) >= start + FRAGMENT_LENGTH:
                        continue
                    span = self._extend(low, start, self.forms[index], offset)
                    reached[alignment] = span[1]
                    found.add(span)
        for form in self.short:
            at = low.find(form)
            while at >= 0:
                found.add((at, at + len(form)))
                at = low.find(form, at + 1)
        return sorted(found)

    @staticmethod
    def _extend(low: str, start: int, form: str, offset: int) -> tuple[int, int]:
        """The longest run around a matched window that still follows ``form``."""
        begin, i = start, offset
        while begin > 0 and i > 0 and low[begin - 1] == form[i - 1]:
            begin, i = begin - 1, i - 1
        end, j = start + FRAGMENT_LENGTH, offset + FRAGMENT_LENGTH
        while end < len(low) and j < len(form) and low[end] == form[j]:
            end, j = end + 1, j + 1
        return begin, end


_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_pairs: frozenset[tuple[str, str]] = frozenset()  # values registered together, both ways
_matcher: _Matcher | None = None


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values to mask from now on (blank or very short ones are ignored);
    values registered in one call (a key id and its secret) are also masked as ``a:b``."""
    global _secrets, _pairs, _matcher
    found = list(
        dict.fromkeys(v.strip() for v in values if v and len(v.strip()) >= MIN_SECRET_LENGTH)
    )
    pairs = set(permutations(found, 2))
    with _lock:
        if set(found) <= _secrets and pairs <= _pairs:
            return
        secrets, both = _secrets | set(found), _pairs | pairs
        _matcher = _Matcher.build(sorted(secrets), sorted(both))
        _secrets, _pairs = secrets, both


def forget_secrets() -> None:
    """Clear the registry (tests that run several processes' worth of keys in one process)."""
    global _secrets, _pairs, _matcher
    with _lock:
        _secrets, _pairs, _matcher = frozenset(), frozenset(), None


def registered() -> int:
    return len(_secrets)


def _lowered(text: str) -> str:
    """``text`` lowered character by character, so that indices still match ``text`` (a few
    characters, such as 'İ', lower to two)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def redact_text(text: str) -> str:
    """``text`` with every form of every registered secret, and every long fragment of one,
    replaced by ``[REDACTED]`` (see the module docstring for the exact rule). Overlapping or
    touching matches become one mask."""
    matcher = _matcher
    if matcher is None or len(text) < matcher.shortest:
        return text
    spans = matcher.spans(_lowered(text))
    if not spans:
        return text
    parts: list[str] = []
    done = 0
    begin, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
            continue
        parts += [text[done:begin], MASK]
        done, begin, end = end, s, e
    parts += [text[done:begin], MASK, text[end:]]
    return "".join(parts)


def redact_optional(text: str | None) -> str | None:
    return None if text is None else redact_text(text)


def redact_tree(value: object) -> object:
    """``redact_text`` over every string in nested dicts and lists (JSON-like data)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    return value
