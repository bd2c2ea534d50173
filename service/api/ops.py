"""Operational endpoints: liveness, readiness, chain verification, the signed head."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from events import store
from events.envelope import MAX_SEQUENCE, BadParameter
from events.heads import SignedHead
from service import heads
from service.api.openapi import problems, read_responses
from service.wiring import Services

HASH_PATTERN = r"^[0-9a-f]{64}$"


class HeadKey(msgspec.Struct, frozen=True):
    """One accepted public key: its key_id and its PEM (SubjectPublicKeyInfo)."""

    key_id: str
    public_key: str


class HeadKeys(msgspec.Struct, frozen=True):
    """The key heads are signed with now, and every key a saved head may be signed by."""

    signing: str | None
    keys: list[HeadKey]


class OpsController(Controller):
    """/healthz, /readyz, /v1/verify, /v1/head."""

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

    @get("/v1/verify", summary="Walk the hash chain", responses=problems(400, 401, 403, 422, 503))
    async def verify(
        self,
        svc: NamedDependency[Services],
        sequence: Annotated[
            int | None,
            QueryParameter(ge=0, le=MAX_SEQUENCE, description="a saved head's sequence"),
        ] = None,
        hash_: Annotated[
            str | None,
            QueryParameter(
                name="hash", pattern=HASH_PATTERN, description="a saved head's hash (with sequence)"
            ),
        ] = None,
    ) -> heads.Verification:
        """Names the first broken sequence, if any. With a saved head (`sequence` and
        `hash`, from GET /v1/head), also whether the log still begins with it, and if not
        where it stops (`saved.diverges`)."""
        if (sequence is None) != (hash_ is None):
            missing = "hash" if hash_ is None else "sequence"
            raise BadParameter(missing, "a saved head needs both sequence and hash")
        saved = (sequence, hash_) if sequence is not None and hash_ is not None else None
        async with svc.heavy.slot(), await svc.acquire() as conn:
            return await heads.verify(conn, saved)

    @get("/v1/head", summary="The head of the log, signed (Ed25519)", responses=read_responses())
    async def head(self, svc: NamedDependency[Services]) -> SignedHead:
        """`{sequence, hash, recordedtime, key_id, signature}`: keep it; later,
        GET /v1/verify?sequence=&hash= (or `annals verify --head FILE`) proves that the log
        still begins with it. What the signature covers: docs/SECURITY.md."""
        async with await svc.acquire() as conn:
            return await heads.current(conn, svc.keys)

    @get(
        "/v1/head/keys",
        summary="The public keys heads are signed with",
        responses=read_responses(),
    )
    async def head_keys(self, svc: NamedDependency[Services]) -> HeadKeys:
        """The signing key's key_id and every accepted public key (PEM), so a client can
        check a head's signature itself. Compare them with keys obtained another way."""
        keys = svc.keys
        return HeadKeys(keys.signing_id, [HeadKey(k, pem) for k, pem in keys.public_pem().items()])
