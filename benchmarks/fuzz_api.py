"""Long contract-fuzzing run: schemathesis against the served /api/openapi.json, every
operation as the owner of a package, a stranger, an admin and an anonymous caller, on SQLite or MariaDB.
Prints requests, answers by status, failures, and the rate; exits 1 on any failure.

    .venv/bin/python benchmarks/fuzz_api.py --examples 60 --database mysql   # ~11,000 requests

The suite runs the same thing bounded (tests/api/test_contract.py, 15 examples)."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry import Settings, create_app, migrate  # noqa: E402
from registry.db import make_engine  # noqa: E402
from tests.helpers import TestRegistry  # noqa: E402
from tests.support.fuzz import CALLERS, fuzz, populate  # noqa: E402

MYSQL_SERVER = "mysql+pymysql://root@127.0.0.1:3306"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=60, help="per operation and caller")
    parser.add_argument("--database", choices=["sqlite", "mysql"], default="mysql")
    parser.add_argument("--seed", type=int, default=1, help="0: the suite's fixed examples")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.database == "sqlite":
            url, drop = f"sqlite:///{scratch}/registry.db", None
        else:
            name = f"registry_fuzz_{uuid.uuid4().hex[:8]}"
            admin = create_engine(MYSQL_SERVER + "/")
            with admin.connect() as connection:
                connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
            url, drop = f"{MYSQL_SERVER}/{name}", name
        try:
            engine = make_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
            app = create_app(Settings(data_dir=Path(scratch) / "data", database_url=url,
                                      secret_key=secrets.token_urlsafe(48)))
            logging.getLogger("registry.requests").setLevel(logging.WARNING)  # not a line per request
            registry = TestRegistry(app)
            known = populate(registry)
            started = time.perf_counter()
            report = fuzz(app, CALLERS, registry.token, known, examples=args.examples, seed=args.seed)
            seconds = time.perf_counter() - started
            app.extensions["registry"].engine.dispose()
        finally:
            if drop:
                with admin.connect() as connection:
                    connection.execute(text(f"DROP DATABASE IF EXISTS `{drop}`"))
    print(f"database: {args.database}, seed {args.seed}, {args.examples} examples per operation and caller")
    print(report.summary())
    print(f"{seconds:.1f} s, {report.requests / seconds:.0f} requests/s")
    for failure in report.failures:
        print("\n" + failure)
    return 1 if report.failures or any(status >= 500 for status in report.statuses) else 0


if __name__ == "__main__":
    sys.exit(main())
