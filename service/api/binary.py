"""CloudEvents HTTP binary content mode: `ce-*` headers and a data body, read as one event.

The mapping follows the HTTP protocol binding 1.0.2, section 3.1: each attribute (and the
`confidence` extension) is a `ce-` header; a value is unquoted when it is a quoted string,
then percent-decoded once, and must then be UTF-8; `Content-Type` is the data's media type
(a `ce-datacontenttype` header is not allowed); the body is the data. Errors name the
header (`ce-time`) or the data's own path (`$.name`: in this mode the body is the data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from events.envelope import ENVELOPE_FIELDS, FieldError, InvalidEvent
from events.store import Conflict

PREFIX: Final = "ce-"
ATTRIBUTES: Final = tuple(sorted(ENVELOPE_FIELDS - {"data", "datacontenttype"}))
_QUOTED: Final = re.compile(r'^"((?:[^"\\]|\\.)*)"$', re.S)
_ESCAPE: Final = re.compile(r"\\(.)", re.S)
# Field paths of the structured form, and what they are called in this mode.
_ATTRIBUTE_PATH: Final = re.compile(r"^\$(?:\[0\])?\.([a-z]+)(?=$|[.\[])")
_DATA_PATH: Final = re.compile(r"^\$(?:\[0\])?\.data(?=$|[.\[])")


def is_binary(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether the raw ASGI headers carry any `ce-` header: the request is binary mode."""
    return any(name[:3] == b"ce-" for name, _ in headers)


def header_value(name: str, raw: str) -> str:
    """A header's attribute value: quoted-string unescaped, then percent-decoded (UTF-8)."""
    value = raw.strip()
    if m := _QUOTED.match(value):
        value = _ESCAPE.sub(r"\1", m.group(1))
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent(
            [FieldError(name, "percent-decodes to bytes that are not UTF-8")]
        ) from None


def envelope(headers: Iterable[tuple[str, str]], data: Any, has_data: bool) -> dict[str, Any]:
    """The structured envelope of a binary-mode request: one attribute per `ce-` header.

    `headers` are (lower-case name, value) pairs; a header that names no attribute, or
    names one twice, is refused by its name."""
    raw: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, value in headers:
        if not name.startswith(PREFIX):
            continue
        attribute = name[len(PREFIX) :]
        if attribute not in ATTRIBUTES:
            allowed = ", ".join(PREFIX + a for a in ATTRIBUTES)
            hint = "; Content-Type says the data's type" if attribute == "datacontenttype" else ""
            errors.append(FieldError(name, f"unknown attribute header; allowed: {allowed}{hint}"))
        elif attribute in raw:
            errors.append(FieldError(name, "given more than once"))
        else:
            try:
                raw[attribute] = header_value(name, value)
            except InvalidEvent as e:
                errors.extend(e.errors)
    if errors:
        raise InvalidEvent(errors)
    if has_data:
        raw["data"] = data
    return raw


def path_of(path: str) -> str:
    """A structured-mode field path as this mode names it: `$.time` -> `ce-time`,
    `$.data.name` -> `$.name`, `$.data` -> `$` (the body)."""
    if m := _DATA_PATH.match(path):
        return "$" + path[m.end() :]
    if (m := _ATTRIBUTE_PATH.match(path)) and m.group(1) in ATTRIBUTES:
        return PREFIX + m.group(1) + path[m.end() :]
    return path


def renamed(e: InvalidEvent | Conflict) -> InvalidEvent | Conflict:
    """The same error with its field paths named as this mode names them."""
    errors = [FieldError(path_of(f.path), f.message) for f in e.errors]
    if isinstance(e, Conflict):
        return Conflict(e.detail, errors)
    return InvalidEvent(errors)
