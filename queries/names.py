"""Display names of subjects: the name or title each was introduced with (one query)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from events.store import Conn

# Only these introduce a name; issues have none.
NAMING: Final = ("party.registered", "plan.proposed", "meeting.scheduled")
# How far into a subject's history the name is looked for: the introducing event comes
# first in practice, and the bound keeps a subject never introduced from costing a scan of
# everything that concerns it.
SCAN: Final = 1_000

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
    wanted = sorted({s for s in subjects if not s.startswith("issue/")})
    if not wanted:
        return {}
    rows = await conn.fetch(_SQL, wanted, upto, SCAN, list(NAMING))
    return {r["subject"]: r["name"] for r in rows}
