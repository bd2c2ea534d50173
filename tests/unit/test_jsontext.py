"""Strict JSON (events/jsontext.py), the event-size rule and `source` (events/envelope.py),
and the import's bounded line readers (service/importer.py): no database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.envelope import (
    MAX_EVENT_BYTES,
    EventTooLarge,
    InvalidEvent,
    is_uri_reference,
    parse_event,
)
from events.jsontext import DuplicateKey, Inexact, decode
from service.importer import MAX_LINE_BYTES, TOO_LONG, file_lines, numbered


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (b'{"a":1,"a":2}', "$.a"),
        (b'{"a":{"b":[{"c":1},{"c":1,"c":1}]}}', "$.a.b[1].c"),
        (b'{"a b":1,"a b":1}', '$["a b"]'),
        (b'{"k\\u003a":1,"k:":2}', '$["k:"]'),
        (b'{"k":1e-400,"k":2}', "$.k"),
    ],
)
def test_a_key_given_twice_is_named(text: bytes, path: str) -> None:
    with pytest.raises(DuplicateKey) as e:
        decode(text)
    assert e.value.path == path


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(alphabet=":a\"\\ é{", max_size=4), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(_json)
def test_any_json_without_repeated_keys_decodes_to_itself(value: Any) -> None:
    # Colons, quotes and backslashes in keys and strings must not look like a lost key.
    assert decode(msgspec.json.encode(value)) == value


@pytest.mark.parametrize(
    "literal", ["1e-400", "-1e-400", "1e400", "0.12345678901234567890", "1.00000000000000000001"]
)
def test_a_number_no_float_holds_is_marked_inexact(literal: str) -> None:
    value = decode(f'{{"v":[{literal}]}}'.encode())["v"][0]
    assert isinstance(value, Inexact) and value.text == literal


@pytest.mark.parametrize("literal", ["0.1", "-0.0", "5e-324", "1E2", "1.5e308", "2.5"])
def test_a_number_a_float_holds_is_a_float(literal: str) -> None:
    assert decode(literal.encode()) == float(literal)


def test_an_inexact_number_is_named_by_the_event_check() -> None:
    raw = decode(b'{"type":"x-n","time":"2025","data":{"v":[1,1e-400]}}')
    with pytest.raises(InvalidEvent) as e:
        parse_event(raw)
    assert [f.path for f in e.value.errors] == ["$.data.v[1]"]


def test_one_event_past_the_limit_is_too_large_at_any_path() -> None:
    raw = {"type": "x-n", "time": "2025", "data": "a" * MAX_EVENT_BYTES}
    with pytest.raises(EventTooLarge) as e:
        parse_event(raw, "line 7")
    assert [f.path for f in e.value.errors] == ["line 7"]
    raw["data"] = "a" * (MAX_EVENT_BYTES - 100)
    assert parse_event(raw).type == "x-n"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("urn:annals:api", True),
        ("https://example.org/a/b?c=d&e#f", True),
        ("//example.org/feed", True),
        ("desk/world", True),
        ("http://[::1]:80/", True),
        ("a%20b", True),
        ("a b", False),
        ("a%2", False),
        ("a#b#c", False),
        ("1a:b", False),
        ("a/[b]", False),
        ('"quoted"', False),
        ("é", False),
    ],
)
def test_source_is_an_rfc_3986_uri_reference(text: str, ok: bool) -> None:
    assert is_uri_reference(text) is ok


def test_file_lines_stops_at_a_line_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "long.ndjson"
    path.write_bytes(b"{}\n" + b"x" * (3 * MAX_LINE_BYTES) + b"\n{}\n")
    got = list(file_lines(path))
    assert got == [(1, b"{}\n"), (2, TOO_LONG)]


async def test_numbered_stops_at_a_line_past_the_limit_without_reading_on() -> None:
    read = 0

    async def chunks() -> Any:
        nonlocal read
        yield b"{}\n{"
        while True:  # a line without end
            read += 65_536
            yield b"x" * 65_536

    got = [item async for item in numbered(chunks())]
    assert got == [(1, b"{}\n"), (2, TOO_LONG)]
    assert read <= MAX_LINE_BYTES + 65_536
