"""Shared fixtures: one PostgreSQL server per run, a fresh database per test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import pytest

from events.migrate import migrate
from events.writer import Writer
from service.app import create_app
from service.database import create_pool
from service.importer import file_lines, import_lines
from service.listener import Listener
from service.settings import Settings
from service.wiring import EXAMPLE, Services
from tests.pg import fresh_name, postgres_server, with_database

TEMPLATE = "annals_template"
EXAMPLE_EVENTS = len(EXAMPLE.read_text(encoding="utf-8").splitlines())  # the example's head


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """The admin URL of the run's PostgreSQL server."""
    with postgres_server() as (url, how):
        print(f"\nPostgreSQL for tests: {how}")
        yield url


@pytest.fixture(scope="session")
async def template_db(pg_admin_url: str) -> str:
    """A migrated database that every test database is copied from."""
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    conn = await asyncpg.connect(with_database(pg_admin_url, TEMPLATE))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return TEMPLATE


@contextlib.asynccontextmanager
async def fresh_database(admin_url: str, template: str) -> AsyncIterator[str]:
    """A fresh, migrated database copied from the template; dropped afterwards."""
    name = fresh_name()
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await admin.close()
    yield with_database(admin_url, name)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
async def db_url(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test."""
    async with fresh_database(pg_admin_url, template_db) as url:
        yield url


@pytest.fixture
async def second_db(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """Another fresh, migrated, empty database (an import or restore target)."""
    async with fresh_database(pg_admin_url, template_db) as url:
        yield url


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test's database."""
    return Settings.from_env(database_url=db_url, data_dir=tmp_path, db_timeout=5.0)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """A pool and a running writer on the test's database."""
    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, min_size=1, max_size=20)
    writer = Writer(pool)
    writer.start()
    listener = Listener(settings.database_url)
    listener.start()
    try:
        yield Services(settings, pool, writer, listener)
    finally:
        await listener.stop()
        await writer.stop()
        await pool.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, over ASGI in the test's own event loop, on the test's database."""
    transport = httpx.ASGITransport(app=cast(Any, create_app(svc=services)))
    async with httpx.AsyncClient(transport=transport, base_url="http://annals.test") as c:
        yield c


@pytest.fixture
async def example(services: Services, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client, with the bundled example timeline imported (sequences 1..EXAMPLE_EVENTS)."""
    stats = await import_lines(services.writer, file_lines(EXAMPLE))
    assert stats.appended == EXAMPLE_EVENTS
    return client


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test's database (to look behind the service's back)."""
    c = await asyncpg.connect(db_url)
    try:
        yield c
    finally:
        await c.close()
