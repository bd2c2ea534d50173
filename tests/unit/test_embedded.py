"""The embedded server's memory settings, sized to the machine."""

from __future__ import annotations

from pathlib import Path

from service.embedded import MB, memory_settings, ram_bytes

GB = 1024 * MB


def test_shared_buffers_is_a_quarter_of_memory_within_bounds() -> None:
    assert memory_settings(24 * GB)["shared_buffers"] == "6144MB"
    assert memory_settings(256 * MB)["shared_buffers"] == "128MB"  # never below the default
    assert memory_settings(256 * GB)["shared_buffers"] == "8192MB"  # nor above 8 GB


def test_the_planner_is_told_of_the_os_cache_beside_the_buffers() -> None:
    assert memory_settings(24 * GB)["effective_cache_size"] == "18432MB"
    assert memory_settings(256 * MB)["effective_cache_size"] == "192MB"


def test_a_container_limit_below_the_machine_counts(tmp_path: Path) -> None:
    limit = tmp_path / "memory.max"
    limit.write_text("2147483648\n")
    assert ram_bytes(limit) == 2 * GB
    limit.write_text("max\n")  # no limit: the machine's memory, as with no cgroup file
    assert ram_bytes(limit) == ram_bytes(tmp_path / "none")
