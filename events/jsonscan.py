"""What the log cannot hold in a JSON value: a NUL character, a lone surrogate, an inexact
number, nesting past MAX_DEPTH; found at C speed when there is none."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from events.jsontext import Inexact, key_path

MAX_DEPTH: Final = 32  # nesting depth of any JSON body (objects and arrays)


def first_hostile(value: Any, path: str) -> tuple[str, str] | None:
    """The path and description of the first thing in `value` the log cannot hold, or None."""
    return hostile_in(value, encoded(value), path)


def hostile_in(value: Any, text: bytes | None, path: str) -> tuple[str, str] | None:
    """`first_hostile`, given `value` as `encoded` gives it."""
    return None if _plainly_clean(text) else _walk(value, path, 0)


def encoded(value: Any) -> bytes | None:
    """`value` as compact JSON; None when it cannot be encoded (a lone surrogate, an
    Inexact number): the walk then names why."""
    try:
        return msgspec.json.encode(value)
    except (UnicodeEncodeError, TypeError, ValueError, OverflowError):
        return None


def _plainly_clean(text: bytes | None) -> bool:
    """True when the walk would find nothing in the value encoded as `text`, checked at C
    speed: the walk builds a path for every key and costs more than the rest of validating
    an event. Encoding fails on a lone surrogate or an Inexact number; a NUL is written as
    an escape; nesting cannot exceed the number of objects and arrays. Any doubt (a
    backslash-u in text, many containers) answers False, and the walk decides and names
    the field."""
    if text is None:
        return False
    return b"\\u0000" not in text and text.count(b"{") + text.count(b"[") <= MAX_DEPTH


def _walk(value: Any, path: str, depth: int) -> tuple[str, str] | None:
    if depth > MAX_DEPTH:
        return path, f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, Inexact):
        return (
            path,
            f"the number {value.text[:40]} cannot be stored exactly (a 64-bit float would "
            "change it); send fewer digits, or the number as a string",
        )
    if isinstance(value, str):
        return _bad_text(value, path)
    if isinstance(value, dict):
        for k, v in value.items():
            sub = key_path(path, k)
            found = _bad_text(k, sub, "the key ") or _walk(v, sub, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _walk(v, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def _bad_text(s: str, path: str, what: str = "") -> tuple[str, str] | None:
    if "\x00" in s:
        return path, f"{what}contains a NUL character (U+0000), which cannot be stored"
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return path, f"{what}contains a lone UTF-16 surrogate, which is not valid Unicode"
    return None
