"""`annals readmodel verify`'s check: the read model against the full replay of the log."""

from __future__ import annotations

import asyncpg

from queries import check, projector
from service.importer import file_lines, import_lines
from service.wiring import EXAMPLE, Services
from tests.conftest import EXAMPLE_EVENTS


async def test_a_sound_read_model_equals_the_replay_and_a_damaged_one_is_named(
    services: Services, conn: asyncpg.Connection
) -> None:
    assert (await import_lines(services.writer, file_lines(EXAMPLE))).appended == EXAMPLE_EVENTS
    held = await projector.catch_up(conn)
    subjects = await conn.fetchval("SELECT count(*) FROM read_subjects")
    checked, found = await check.verify(conn, held, 0, 4, seed=1)
    assert (checked, found) == (subjects, [])
    # Damage one fact: the proposal of a plan stops being believed at its own sequence.
    plan = await conn.fetchval(
        "SELECT subject FROM read_facts WHERE subject LIKE 'plan/%' AND key = ''"
        " ORDER BY sequence LIMIT 1"
    )
    await conn.execute(
        "UPDATE read_facts SET known_to = known_from WHERE subject = $1 AND key = ''"
        " AND sequence = (SELECT min(sequence) FROM read_facts WHERE subject = $1)",
        plan,
    )
    checked, found = await check.verify(conn, held, 0, 4, seed=1)
    assert checked == subjects
    assert found and {m.subject for m in found} == {plan}, found
    assert found[0].known == held  # the first question: everything, as known now
