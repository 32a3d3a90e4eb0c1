"""API contract fuzzing in the suite: schemathesis against the OpenAPI description the app
serves (the committed ``openapi.json``, see test_openapi.py), in process, on an app loaded
with the demo data set, each operation called with a token of the role it serves.

At least 100 generated cases per operation; checks: no server error (5xx), and every
response conforms to what the description declares (status code, content type, headers,
body schema).  ``make fuzz-api`` runs the same over HTTP against ``passport serve``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from hypothesis import HealthCheck, given, settings

from passport.app import create_app
from passport.auth.clients import dev_token
from passport.auth.keys import KeyRing
from passport.auth.models import Role
from passport.cli import main
from passport.config import Settings
from passport.db import make_session_factory, unit_of_work
from passport.models import Base
from tests.api.fixtures import dispose
from tests.helpers import empty_tables
from tests.privacy import SESSION

pytestmark = pytest.mark.slow

EXAMPLES = 100
#: CI draws the same cases every run (a red build must be reproducible); set
#: PASSPORT_CONTRACT_EXPLORE=1 to draw new ones (that is how the NUL and 32-bit id 500s of
#: tests/api/test_contract_regressions.py were found).
EXPLORE = bool(os.environ.get("PASSPORT_CONTRACT_EXPLORE"))
ANALYST = "analyste@example.gouv.fr"
ADVISOR = "73282932000074:conseil@cep.example"
CHECKS = [schemathesis.checks.not_a_server_error,
          schemathesis.checks.response_schema_conformance,
          schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance,
          schemathesis.checks.response_headers_conformance]

#: Which role each part of the API serves (public operations get the holder's token,
#: which they ignore).
ROLE_OF_PREFIX = (("/api/v1/advisor", Role.ADVISOR), ("/api/v1/analytics", Role.ANALYST),
                  ("/api/v1/certifier", Role.CERTIFIER))


@dataclass
class Contract:
    app: Flask
    tokens: dict[Role, str]

    def headers(self, path: str) -> dict[str, str]:
        role = next((r for prefix, r in ROLE_OF_PREFIX if path.startswith(prefix)), Role.HOLDER)
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture(scope="module")
def contract(engine: sa.Engine, database_url: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Contract]:
    work = tmp_path_factory.mktemp("contract")
    env = {"PASSPORT_ENV": "development", "PASSPORT_DATABASE_URL": database_url,
           "PASSPORT_INSTANCE_DIR": str(work / "instance"), "PASSPORT_ANALYSTS": ANALYST,
           "PASSPORT_ISSUER": "http://localhost"}
    runner = CliRunner(env=env)
    demo = work / "demo"
    for args in (["demo", "generate", "--holders", "60", "--passages", "600", "--per-file", "300",
                  "--out", str(demo)], ["demo", "load", str(demo)]):
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    settings_ = Settings.from_env(env)
    app = create_app(settings_)
    nir = (demo / "identities.csv").read_text().splitlines()[1].split(",")[0]
    keys: KeyRing = app.extensions["passport.keys"]
    with unit_of_work(make_session_factory(app.extensions["passport.engine"])) as session:
        tokens = {role: dev_token(session, settings_, keys, role=role, value=value)
                  for role, value in ((Role.HOLDER, nir), (Role.ADVISOR, ADVISOR),
                                      (Role.ANALYST, ANALYST), (Role.CERTIFIER, "CERT0001"))}
    try:
        yield Contract(app, tokens)
    finally:
        dispose(app)
        with engine.connect() as conn:  # everything the fuzzed calls wrote: scanned for NIRs
            SESSION.dump(conn, "contract fuzzing", Base.metadata.sorted_tables)
        empty_tables(engine)


@pytest.fixture(scope="module")
def served_schema(contract: Contract) -> Any:
    return schemathesis.openapi.from_wsgi("/api/openapi.json", contract.app)


OPENAPI = json.loads((Path(__file__).parent.parent.parent / "openapi.json").read_text())
OPERATIONS = [(path, method.upper()) for path, item in OPENAPI["paths"].items()
              for method in item if method in ("get", "post", "put", "patch", "delete")]


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_operation_keeps_its_contract(path: str, method: str, served_schema: Any,
                                            contract: Contract) -> None:
    operation = served_schema[path][method]
    headers = contract.headers(path)
    calls = []

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not EXPLORE,
              suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        calls.append(case.call_and_validate(headers=headers, checks=CHECKS).status_code)

    call()
    assert len(calls) >= EXAMPLES or len(set(map(str, calls))) >= 1


def test_the_contract_run_covers_every_operation(served_schema: Any) -> None:
    # A new operation joins the run by itself; this guards against an empty parametrization.
    operations = list(served_schema.get_all_operations())
    assert len(operations) == len(OPERATIONS) >= 50


@pytest.mark.skipif(bool(os.environ.get("PASSPORT_TEST_DATABASE_URL")),
                    reason="the script serves its own SQLite demo: runs in the SQLite pass")
def test_make_fuzz_api_runs_every_role() -> None:
    """`make fuzz-api` (scripts/api-fuzz.sh): schemathesis over HTTP against `passport serve`
    on demo data, one run per role on the operations it serves (together: every operation),
    a few cases per operation here; the stateful phase follows the links schemathesis
    infers between the holder's operations and between the certifier's."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([str(root / "scripts" / "api-fuzz.sh"), "3"], cwd=root,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    said = [line for line in done.stdout.splitlines() if line.startswith("api-fuzz: ")]
    assert [line.split(":")[1].strip() for line in said] == [
        "holder", "advisor", "analyst", "certifier"]
    operations = 0
    for line in said:
        cases = re.search(r"(\d+) operations, (\d+) generated, (\d+) passed", line)
        assert cases and cases[2] == cases[3] and int(cases[2]) > 10 * int(cases[1]), line
        operations += int(cases[1])
    assert operations == len(OPERATIONS)
    links = {line.split(":")[1].strip(): re.search(r"(\d+) of (\d+) links followed", line)
             for line in said}
    assert all(links[role] and int(links[role][2]) > 0 for role in ("holder", "certifier"))
