"""The benchmark's target tables: each reason for a miss is given once."""

from bench.report import WHY, _target_table


def test_a_reason_shared_by_several_misses_is_written_once_and_then_pointed_to() -> None:
    key = next(iter(WHY))
    other = next(k for k in WHY if WHY[k] != WHY[key])
    lines = _target_table(
        "#### t",
        [
            ("page, now", "74.6 ms", "≤ 50", False, key),
            ("page, known_at", "72.0 ms", "≤ 50", False, key),
            ("size", "1.36x", "≤ 2", True, key),
            ("append", "0.36x", "≥ 0.37", False, other),
        ],
    )
    text = "\n".join(lines)
    assert text.count(WHY[key]) == 1
    assert "* page, known_at: 72.0 ms against ≤ 50. Why: as for page, now." in lines
    assert text.count(WHY[other]) == 1
