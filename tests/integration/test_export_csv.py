"""The CSV export against a real PostgreSQL, read by pandas with the types it documents."""

from __future__ import annotations

import csv
import io

import httpx
import pandas as pd

from service.exports import CSV_COLUMNS
from tests.conftest import EXAMPLE_EVENTS

Client = httpx.AsyncClient
# What docs/CLIENTS.md tells pandas users to pass.
DTYPES = {"id": "string", "source": "string", "type": "category", "subject": "string",
          "timeprecision": "category", "timequalifier": "category", "confidence": "category",
          "concerns": "string", "headline": "string", "summary": "string"}  # fmt: skip


def frame(body: bytes) -> pd.DataFrame:
    df = pd.read_csv(io.BytesIO(body), dtype=DTYPES, keep_default_na=False, na_values={
        "timequalifier": [""], "summary": [""], "subject": [""]})  # fmt: skip
    for column in ("time", "recordedtime"):
        df[column] = pd.to_datetime(df[column], format="ISO8601", utc=True)
    return df


async def test_csv_export_reads_into_pandas_with_the_right_types(example: Client) -> None:
    r = await example.get("/v1/export/events.csv", params={"rows": 7})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv; charset=utf-8")
    assert r.headers["annals-known-at"] == str(EXAMPLE_EVENTS)
    assert r.text.count("sequence,id,source") == 1  # one header, however many pages
    df = frame(r.content)
    assert tuple(df.columns) == CSV_COLUMNS and len(df) == EXAMPLE_EVENTS
    assert str(df["sequence"].dtype) == "int64"
    assert str(df["time"].dtype).startswith("datetime64") and str(df["time"].dt.tz) == "UTC"
    assert str(df["recordedtime"].dtype).startswith("datetime64")
    assert df["time"].is_monotonic_increasing  # timeline order: valid time, then sequence

    timeline = (await example.get("/v1/timeline", params={"limit": 1000})).json()["events"]
    assert list(df["id"]) == [e["id"] for e in timeline]
    assert list(df["headline"]) == [e["headline"] for e in timeline]
    first = timeline[0]
    row = df.iloc[0]
    assert (row["sequence"], row["type"], row["subject"]) == (
        first["sequence"], first["type"], first["subject"])  # fmt: skip
    assert row["time"] == pd.Timestamp(first["time"])
    classified = df[df["type"] == "plan.classified"].iloc[0]
    assert classified["concerns"].split()[0] == classified["subject"]
    assert "party/ukraine" in classified["concerns"].split()
    assert set(df["timeprecision"].dropna()) <= {"instant", "day", "month", "year"}
    assert df["summary"].notna().any()


async def test_csv_export_takes_the_timeline_filters(example: Client) -> None:
    params = {"subject": "party/russia", "from": "2025-11-20", "to": "2025-11-30",
              "min_confidence": "reported", "type": "position."}  # fmt: skip
    r = await example.get("/v1/export/events.csv", params=params)
    timeline = await example.get("/v1/timeline", params=params)
    df = frame(r.content)
    assert list(df["id"]) == [e["id"] for e in timeline.json()["events"]] and len(df) > 0
    bad = await example.get("/v1/export/events.csv", params={"from": "late November"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "from"
    bad = await example.get("/v1/export/events.csv", params={"rows": 0})
    assert bad.status_code == 400
    empty = await example.get("/v1/export/events.csv", params={"known_at": "0"})
    assert empty.text.strip() == ",".join(CSV_COLUMNS)


async def test_csv_cells_that_start_like_formulas_get_an_apostrophe(client: Client) -> None:
    r = await client.post("/v1/events", json={
        "id": "=HYPERLINK(\"http://evil.example\")", "type": "x-note", "time": "2025-11-27",
        "data": {"summary": "@SUM(A1:A9), \"quoted\", and a\nnew line"}})  # fmt: skip
    assert r.status_code == 201, r.text
    rows = list(csv.reader(io.StringIO((await client.get("/v1/export/events.csv")).text)))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["id"] == '\'=HYPERLINK("http://evil.example")'
    assert row["summary"] == '\'@SUM(A1:A9), "quoted", and a\nnew line'
    assert row["headline"] == 'Note: @SUM(A1:A9), "quoted", and a new line'  # starts with a label
