"""How hash lookups grow with what the `blob` table holds: 10,000 absent hashes (a dry run's
fresh fragments) looked up as the registry does (literal IN lists of 2,000), with 0, 50,000 and
500,000 rows of that owner stored; first by the owner and hash (a push), then by hash alone
(`POST /api/get_objects`, which names no owner). Prints the median of 7 and MariaDB's plan.

    python benchmarks/hash_lookups.py [--database-url mysql+pymysql://root@127.0.0.1:3306/]

It creates a database `registry_bench_<random>` and drops it at exit.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's registry and tests.support

from registry.services.bulk import CHUNK as IN_LIST  # noqa: E402 (after the path): the registry's IN lists
from scale_stack import database, raw_connection  # noqa: E402

LEVELS = (0, 50_000, 500_000)
LOOKUPS = 10_000
REPEAT = 7


def hexes(count: int) -> list[str]:
    return [secrets.token_hex(32) for _ in range(count)]


def lookup_sql(hashes: list[str]) -> str:
    return "SELECT hash, size, batch FROM `blob` WHERE owner = 'bob' AND hash IN ('" + "','".join(hashes) + "')"


def any_owner_sql(hashes: list[str]) -> str:
    return "SELECT id, owner, size FROM `blob` WHERE hash IN ('" + "','".join(hashes) + "')"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/")
    args = parser.parse_args()
    with database(args.database_url) as (url, _name):
        db = raw_connection(url)
        with db.cursor() as cursor:
            stored = 0
            for level in LEVELS:
                while stored < level:
                    rows = hexes(min(20_000, level - stored))
                    cursor.execute("INSERT INTO `blob` (owner, hash, size, created_at) VALUES "
                                   + ",".join(f"('bob','{h}',1024,NOW(6))" for h in rows))
                    stored += len(rows)
                cursor.execute("ANALYZE TABLE `blob`")
                cursor.fetchall()
                for label, sql in (("by owner and hash", lookup_sql), ("by hash alone", any_owner_sql)):
                    times = []
                    for _ in range(REPEAT):
                        probe = sorted(hexes(LOOKUPS))
                        started = time.perf_counter()
                        for i in range(0, LOOKUPS, IN_LIST):
                            cursor.execute(sql(probe[i:i + IN_LIST]))
                            assert not cursor.fetchall()
                        times.append(time.perf_counter() - started)
                    cursor.execute("EXPLAIN " + sql(probe[:IN_LIST]))
                    plan = "; ".join(f"{row[3]} {row[4] or ''} {row[9] or ''}".strip() for row in cursor.fetchall())
                    print(f"{stored:>9,} rows, {label}: {LOOKUPS:,} absent hashes in {statistics.median(times) * 1000:.1f} "
                          f"ms (median of {REPEAT}, least {min(times) * 1000:.1f} ms); plan: {plan}", flush=True)
        db.close()


if __name__ == "__main__":
    main()
