"""Display names of subjects. A live stream names the subjects of the events it sends by
the name or title each was introduced with, read from the log (one query: a replica's read
model may not yet hold the events it streams); an export by the name or title its state
has at the last instant of valid time, as believed at the export's sequence, from the read
model."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from events.store import Conn
from queries import assembly
from queries.question import Question

# Only these introduce a name; issues have none.
NAMING: Final = ("party.registered", "plan.proposed", "meeting.scheduled")
# How far into a subject's history the name is looked for: the introducing event comes
# first in practice, and the bound keeps a subject never introduced from costing a scan of
# everything that concerns it.
SCAN: Final = 1_000
# How many subjects' states an export holds at once to read their names.
CHUNK: Final = 100

_SQL: Final = """
SELECT s.subject, n.name
FROM unnest($1::text[]) AS s(subject)
CROSS JOIN LATERAL (
    SELECT coalesce(e.data->>'name', e.data->>'title') AS name
    FROM (SELECT sequence FROM event_concerns
          WHERE subject = s.subject AND sequence <= $2
          ORDER BY sequence LIMIT $3) AS c
    JOIN events e ON e.sequence = c.sequence
    WHERE e.subject = s.subject AND e.type = ANY($4::text[])
    ORDER BY c.sequence
    LIMIT 1
) AS n
WHERE n.name IS NOT NULL
"""


async def display_names(conn: Conn, subjects: Iterable[str], upto: int) -> dict[str, str]:
    """The name each party, plan or meeting in `subjects` was introduced with, among events
    up to sequence `upto`; subjects without one (issues, subjects only referred to) are
    left out."""
    wanted = _named(subjects)
    if not wanted:
        return {}
    rows = await conn.fetch(_SQL, wanted, upto, SCAN, list(NAMING))
    return {r["subject"]: r["name"] for r in rows}


def names_of(states: Iterable[Any]) -> dict[str, str]:
    """Each state's display name: a party's `name`, a plan's or meeting's `title`."""
    names: dict[str, str] = {}
    for state in states:
        name = getattr(state, "name", None) or getattr(state, "title", None)
        subject = getattr(state, "id", None)
        if isinstance(name, str) and name.strip() and isinstance(subject, str):
            names[subject] = name
    return names


def _named(subjects: Iterable[str]) -> list[str]:
    """The subjects that may have a name (issues have none), sorted."""
    return sorted({s for s in subjects if not s.startswith("issue/")})


async def names_believed(conn: Conn, subjects: Iterable[str], q: Question) -> dict[str, str]:
    """The display names of `subjects` as `q` believes them: the read model's states of
    those subjects, CHUNK at a time (a busy plan's state is large)."""
    wanted = _named(subjects)
    names: dict[str, str] = {}
    for i in range(0, len(wanted), CHUNK):
        names |= names_of((await assembly.states(conn, wanted[i : i + CHUNK], q)).values())
    return names
