"""Operational endpoints: liveness, readiness, chain verification."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from events import store
from service.api.openapi import problems
from service.wiring import Services


class OpsController(Controller):
    """/healthz, /readyz, /v1/verify."""

    tags = ["operations"]

    @get("/healthz", summary="The process is up")
    async def healthz(self) -> dict[str, str]:
        """Always 200 while the process serves."""
        return {"status": "ok"}

    @get("/readyz", summary="The database is reachable", responses=problems(503))
    async def readyz(self, svc: NamedDependency[Services]) -> dict[str, object]:
        """200 with the head of the log, or 503 with Retry-After."""
        async with await svc.acquire() as conn:
            head = await store.read_head(conn)
        return {"status": "ready", "sequence": head.sequence}

    @get("/v1/verify", summary="Walk the hash chain", responses=problems(401, 403, 503))
    async def verify(self, svc: NamedDependency[Services]) -> store.Verified:
        """Names the first broken sequence, if any."""
        async with svc.heavy.slot(), await svc.acquire() as conn:
            return await store.verify(conn)
