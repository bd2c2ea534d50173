"""`annals serve`: the HTTP service under uvicorn (the default) or granian."""

from __future__ import annotations

import argparse
import signal
from typing import Final

from rich.console import Console

from service.import_cli import import_file
from service.settings import Settings
from service.wiring import EXAMPLE, run

err = Console(stderr=True)


def add_serve_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `serve` to the `annals` command line."""
    s = subparsers.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", help="default ANNALS_HOST, else 127.0.0.1")
    s.add_argument("--port", type=int, help="default ANNALS_PORT, else 8000")
    s.add_argument("--workers", type=int, default=1, help="service processes on one database")
    s.add_argument(
        "--server",
        choices=["uvicorn", "granian"],
        default="uvicorn",
        help="HTTP server (default uvicorn; granian: forked workers, docs/SCALING.md)",
    )
    s.add_argument("--load-example", action="store_true", help="import the example timeline first")
    s.set_defaults(fn=cmd_serve)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


APP: Final = "service.app:app_from_env"  # the ASGI app factory either server loads


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the HTTP service (uvicorn by default, or granian), optionally loading the
    example timeline first."""
    import os

    # The app factory reads the environment (in every worker process): hand it our choices.
    os.environ["ANNALS_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        os.environ["ANNALS_DATABASE_URL"] = settings.database_url
    if args.load_example:
        code = run(lambda svc: import_file(svc, EXAMPLE, quiet=True), settings)
        if code:
            return code
    host, port = args.host or settings.host, args.port or settings.port
    err.print(f"Annals on http://{host}:{port}  (viewer /, OpenAPI /schema/openapi.json)")
    # Either server re-raises or relays a SIGTERM it caught once its graceful shutdown is
    # done; with the default action that ends the process without atexit hooks, and the
    # embedded PostgreSQL (stopped by one when its last user exits) would outlive us.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.server == "granian":
        _serve_granian(host, port, args.workers, settings)
    else:
        _serve_uvicorn(host, port, args.workers, settings)
    return 0


def _serve_granian(host: str, port: int, workers: int, settings: Settings) -> None:
    import importlib
    import os

    # Granian (HTTP in Rust) runs the same ASGI app, lifespan included: Litestar's start-up
    # and shutdown hooks open and close the services exactly as under uvicorn. uvloop, as
    # for uvicorn: the asyncio loop leaves TCP_NODELAY off (docs/SCALING.md).
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    from service.supervised import SUPERVISOR_PID

    # Load the app's modules once, here: the forked workers inherit them instead of each
    # importing them again, so a worker restarts without importing anything.
    importlib.import_module(APP.partition(":")[0])

    os.environ[SUPERVISOR_PID] = str(os.getpid())  # workers die with us (service/supervised.py)
    Server(
        APP,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        factory=True,
        log_level=LogLevels.warning,
        log_access=False,
        # The request-header deadline (ANNALS_HEADER_TIMEOUT), as service/serving.py sets
        # it for uvicorn.
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_timeout * 1000)),
    ).serve()


def _serve_uvicorn(host: str, port: int, workers: int, settings: Settings) -> None:
    import uvicorn

    from service.serving import uvicorn_options

    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        log_level="warning",
        **uvicorn_options(settings),
        access_log=False,
    )
