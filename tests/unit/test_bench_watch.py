"""The benchmark's account of what else ran during each phase."""

from bench.report import _background
from bench.watch import BETWEEN, Watch, table_of


def test_an_autovacuum_workers_query_names_its_task_and_table() -> None:
    assert table_of("autovacuum: VACUUM ANALYZE public.events") == "VACUUM ANALYZE events"
    wrap = "autovacuum: VACUUM public.read_facts (to prevent wraparound)"
    assert table_of(wrap) == "VACUUM read_facts"


def test_each_phase_is_accounted_its_own_time_and_the_autovacuum_seen_during_it() -> None:
    w = Watch()
    w.mark("import")
    w._account("import")["autovacuum"]["db: VACUUM events"] += 0.5
    w.mark(BETWEEN)
    w.mark("import")  # a phase run twice adds up
    w.mark(BETWEEN)
    got = w.summary()
    assert set(got) == {BETWEEN, "import"}
    assert got["import"]["autovacuum"] == {"db: VACUUM events": 0.5}
    assert got[BETWEEN]["autovacuum"] == {}
    assert 0 <= got["import"]["busy_pct"] <= 100
    row = next(x for x in _background(got) if x.startswith("| import |"))
    assert row.endswith("| db: VACUUM events 0.5 |")
