"""Schemathesis against the service's own OpenAPI document, over HTTP to a live process.

The document is loaded from the running service (`/schema/openapi.json`), so what is tested
is what clients read. Every operation gets schemathesis' coverage cases (boundary values,
missing and ill-typed parameters, wrong methods, bodies breaking each keyword) and
Hypothesis-generated requests, valid and schema-violating, `MAX_EXAMPLES` of each.

Checks on every response: no 5xx, the status code and the content type are documented for
the operation, headers and body conform to the documented schema, a request the document
forbids is refused with a 4xx, a method the path lacks gets 405. At the end the hash chain
still verifies and the log still reads: no accepted request damaged it.

Not fuzzed: GET /v1/stream (an endless SSE response; tests/e2e/test_stream.py covers it).
Not checked: that schema-valid requests are accepted (`positive_data_acceptance`): the
document types `at`, `from`, `known_at` as strings, and most strings are not dates, so a
422 there is the contract, not a bug; nor `allow_header_conformance`: Litestar 2's default
OPTIONS handler lists only the first handler's methods on a path with several
(litestar-org/litestar#4169, fixed in Litestar 3), so OPTIONS /v1/events says
`Allow: OPTIONS, POST` (the 405 answers list GET too).

Why not `schemathesis.pytest.from_fixture` + `@schema.parametrize()`: with pytest 9.2 it
fails before running anything (schemathesis 4.32's lazy loader writes `request.node._nodeid`,
which pytest 9.2 no longer has). This drives the same generators directly: the documented
examples (`get_strategies_from_examples`), the coverage phase (`iter_coverage_cases`) and
the fuzzing phase (each operation's `as_strategy` under Hypothesis `@given`), seeded and
derandomized so that CI cannot flake. `pytest -s` prints the summary.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import Case, GenerationMode, checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.errors import FailureGroup
from schemathesis.schemas import APIOperation, BaseSchema

from tests.e2e.conftest import Service

AnyCase = Case[APIOperation[Any, Any, Any, Any]]

MAX_EXAMPLES = 25  # per operation and generation mode (valid, schema-violating)
MORE_EXAMPLES = {"POST /v1/events": 100}  # the one operation with a body: more of them
SEED = 20251127
NOT_FUZZED = ("/v1/stream",)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.unsupported_method,
]
# A request the document forbids must get a 4xx; 413 (a batch past 10,000 events, which
# schemathesis does not count as a rejection by default) is one.
REJECTIONS = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}},
    }
)


@dataclass
class Tally:
    """What was sent, what came back, and what broke the document."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # one reproduction per kind

    def run(self, case: AnyCase) -> None:
        label = case.operation.label
        self.requests[label] += 1
        response = case.call(timeout=30)
        self.statuses.setdefault(label, Counter())[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                kind = f"{label} -> {response.status_code}: {getattr(failure, 'title', failure)}"
                self.failures.setdefault(kind, f"{kind}\n{group}")

    def summary(self, seconds: float) -> str:
        lines = [
            f"schemathesis: {len(self.requests)} operations, {sum(self.requests.values())} "
            f"requests, {len(self.failures)} failures, {seconds:.1f}s (seed {SEED})",
            *(
                f"  {n:5d}  {op:28s} " + " ".join(f"{s}x{k}" for s, k in sorted(seen.items()))
                for op, n in sorted(self.requests.items())
                for seen in [self.statuses[op]]
            ),
            *(f"  FAILED {kind}" for kind in self.failures),
        ]
        return "\n".join(lines)


def fuzz(tally: Tally, strategy: SearchStrategy[AnyCase], examples: int) -> None:
    """Up to `examples` requests drawn from `strategy`, deterministically."""

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: AnyCase) -> None:
        tally.run(case)

    # Unsatisfiable: nothing to violate (no parameters and no body: GET /healthz)
    with contextlib.suppress(Unsatisfiable):
        run()


def test_the_service_holds_to_its_openapi_document(service_on_db: Service) -> None:
    started = time.monotonic()
    schema: BaseSchema = schemathesis.openapi.from_url(
        f"{service_on_db.url}/schema/openapi.json", config=CONFIG
    )
    tally = Tally()
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):  # an operation the document describes wrongly
            tally.failures[f"schema: {result.err()}"] = str(result.err())
            continue
        operation = result.ok()
        if operation.path in NOT_FUZZED:
            continue
        for example in schema.get_strategies_from_examples(operation):  # documented examples
            fuzz(tally, example, 1)
        generation = schema.config.generation_for(operation=operation)
        for case in schema.iter_coverage_cases(
            operation, generation_modes=list(GenerationMode), generation_config=generation
        ):
            tally.run(case)
        examples = MORE_EXAMPLES.get(operation.label, MAX_EXAMPLES)
        for mode in GenerationMode:
            fuzz(tally, operation.as_strategy(generation_mode=mode), examples)
    print("\n" + tally.summary(time.monotonic() - started))

    verified = httpx.get(f"{service_on_db.url}/v1/verify", timeout=30)
    assert verified.status_code == 200 and verified.json()["ok"], verified.text
    for path in ("/v1/events?limit=1000", "/v1/state", "/v1/export/events.ndjson"):
        r = httpx.get(f"{service_on_db.url}{path}", timeout=30)  # every event still reads
        assert r.status_code == 200, (path, r.text[:500])
    assert len(tally.requests) >= 12, sorted(tally.requests)  # every operation but the stream
    assert not tally.failures, "\n\n".join(tally.failures.values())
