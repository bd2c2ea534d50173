"""Strict JSON text to Python values: the one decoder of every event body and import line.

Stricter than msgspec on two points where JSON parsers differ silently: a duplicate key
(msgspec keeps the last) is refused, and a number that would not survive being stored
(`1e-400` becoming 0.0, `0.12345678901234567890` losing digits) is kept as an `Inexact`
marker that `events.jsonscan` names with its path.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import msgspec


class Inexact:
    """A number literal that no float holds exactly as written. Not a str or float on
    purpose: encoding it fails, so nothing can store it by mistake."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Inexact({self.text!r})"


DUPLICATE_KEY: Final = "this key is given twice in one object; give it once"


class DuplicateKey(Exception):
    """A key given twice in one object; `path` names it (JSONPath, `$` the document)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _float(text: str) -> float | Inexact:
    value = float(text)
    try:
        same = Decimal(repr(value)) == Decimal(text)
    except InvalidOperation:  # inf or nan: 1e400
        same = False
    return value if same else Inexact(text)


_decoder: Final = msgspec.json.Decoder(float_hook=_float)


def decode(text: bytes) -> Any:
    """JSON bytes to values; msgspec's errors for malformed input, DuplicateKey for a key
    given twice."""
    value = _decoder.decode(text)
    if b":" in text and _may_repeat_a_key(text, value):
        path = _first_duplicate(text)
        if path is not None:
            raise DuplicateKey(path)
    return value


def _may_repeat_a_key(text: bytes, value: Any) -> bool:
    """False when no key can repeat, checked at C speed. A colon outside strings follows
    a key, and strings keep their colons when encoded again: so the text has more colons
    than the value encoded again exactly when an object lost a key. Escapes (`\\u003a`)
    and values msgspec cannot encode (Inexact) leave doubt: True, and the exact walk
    decides."""
    if b"\\u" in text:
        return True
    try:
        again = msgspec.json.encode(value)
    except (TypeError, ValueError, UnicodeEncodeError, OverflowError):
        return True
    return text.count(b":") != again.count(b":")


class _Seen(dict[str, Any]):
    """An object as json builds it, remembering a key it saw twice."""

    repeated: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> _Seen:
    seen = _Seen()
    for key, value in pairs:
        if key in seen and seen.repeated is None:
            seen.repeated = key
        seen[key] = value
    return seen


def _first_duplicate(text: bytes) -> str | None:
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_float=str, parse_constant=str)
    except (ValueError, RecursionError):
        return None
    return _find(value, "$")


def key_path(path: str, key: str) -> str:
    """The JSONPath of `key` under `path`: `$.name`, or `$["a b"]` for any other key.

    Keys are written as JSON strings, ASCII-escaped when they hold a lone surrogate, so
    that the path itself can always be sent back in a response.
    """
    if key.isidentifier():
        return f"{path}.{key}"
    try:
        quoted = msgspec.json.encode(key).decode()
    except UnicodeEncodeError:
        quoted = json.dumps(key, ensure_ascii=True)
    return f"{path}[{quoted}]"


def _find(value: Any, path: str) -> str | None:
    if isinstance(value, _Seen):
        if value.repeated is not None:
            return key_path(path, value.repeated)
        for k, v in value.items():
            found = _find(v, key_path(path, k))
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _find(v, f"{path}[{i}]")
            if found:
                return found
    return None
