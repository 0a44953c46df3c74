"""Contract fuzzing: schemathesis generates requests for every operation of the served OpenAPI
document and checks each answer (no 5xx, a documented status, a body that fits its schema,
...). Used by tests/api/test_contract.py (bounded) and scripts/fuzz_api.py (long runs).

Generation is driven here with Hypothesis rather than through schemathesis' pytest plugin, so
the count of requests per operation and caller is ours to bound and report."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, given, seed as hypothesis_seed, settings, strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi import checks as openapi_checks

OWNER, STRANGER, ADMIN = "alice", "bob", "root"  # the document's examples name alice/genome
CALLERS = [OWNER, STRANGER, ADMIN, None]  # None: anonymous

# Left out: `positive_data_acceptance` wants a 2xx for every well-formed request, but a
# well-formed owner who does not exist is rightly a 404.
CHECKS_SKIPPED = [openapi_checks.positive_data_acceptance]


@dataclasses.dataclass
class FuzzReport:
    requests: int = 0
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    by_operation: collections.Counter = dataclasses.field(default_factory=collections.Counter)  # (caller, op, status)
    operations: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        shown = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return f"{self.requests} requests over {self.operations} operations ({shown}); {len(self.failures)} failures"


def populate(registry) -> dict[str, str]:
    """alice/genome with two instances, a tag and a version; bob, a stranger; root, an admin.
    Answers the path parameters that name them (for `fuzz`'s `known`)."""
    for name in (OWNER, STRANGER):
        registry.create_user(name)
    registry.create_user(ADMIN, admin=True)
    token = registry.token(OWNER)
    first, _ = registry.push(token, OWNER, "genome", {"README.md": b"# Genome\n", "a.csv": b"1,2\n"})
    second, top_hash = registry.push(token, OWNER, "genome", {"README.md": b"# Genome v2\n"})
    version = registry.api("PUT", f"/api/version/{OWNER}/genome/1.0", token=token, body={"hash": top_hash})
    for answer in (first, second, version):
        assert answer.status_code == 200, answer.get_json()
    return {"owner": OWNER, "name": "genome", "tag": "latest", "version": "1.0", "user": OWNER,
            "top_hash": top_hash, "principal": STRANGER, "event_type": "install"}


def fuzz(app, callers: list[str | None], token_for: Callable[[str], str], known: dict[str, str], *,
         examples: int, seed: int = 0) -> FuzzReport:
    """`examples` generated requests per operation and caller (None: anonymous), each caller
    with a fresh token per operation (one of them is logout). A third of them name the existing
    package through `known` path parameters, a third are free, a third are negative (data the
    document forbids, which must get a 4xx). Deletions run last, so the rest find the package."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    report = FuzzReport()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in sorted(operations, key=lambda op: (op.method.upper() == "DELETE", op.path, op.method)):
        report.operations += 1
        names = {parameter.name for parameter in operation.path_parameters}
        pinned = {name: value for name, value in known.items() if name in names}
        for caller in callers:
            # The caller's credentials are part of every generated case, negative ones included.
            headers = {"Authorization": f"Bearer {token_for(caller)}"} if caller else {}
            strategy = st.one_of(operation.as_strategy(path_parameters=pinned, headers=headers),
                                 operation.as_strategy(headers=headers),
                                 operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, headers=headers))
            try:
                _run(strategy, report, examples, seed, (caller, operation.label))
            except (Exception, FailureGroup) as exc:  # noqa: BLE001 - every failure is reported, the run goes on
                report.failures.append(f"{caller or 'anonymous'} {operation.label}: {str(exc)[:3000]}")
    return report


def _run(strategy, report: FuzzReport, examples: int, seed: int, key: tuple) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=not seed,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=strategy)
    def call(case):
        response = case.call_and_validate(excluded_checks=CHECKS_SKIPPED)
        report.requests += 1
        report.statuses[response.status_code] += 1
        report.by_operation[(*key, response.status_code)] += 1

    (hypothesis_seed(seed)(call) if seed else call)()
