"""Large pushes run a bounded number of SQL statements (bulk inserts, no per-fragment
round trips), and the compressed tree is read only by the requests that need it."""

import io
import json

from sqlalchemy import event

from tests.helpers import build_tree


class StatementLog:
    def __init__(self, engine):
        self.statements: list[str] = []
        self.engine = engine

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, _params, _context, _executemany):
        self.statements.append(statement)


def push_many(registry, token, name: str, count: int) -> int:
    """Push `count` fragments (already in storage) and return the number of SQL statements run."""
    files = {f"d{i // 1000}/f{i}": f"fragment {name} {i}".encode() for i in range(count)}
    contents, blobs = build_tree(files)
    store = registry.state.store
    for digest, data in blobs.items():
        store.write("alice", digest, io.BytesIO(data))
    body = {"description": "", "contents": contents, "sizes": {d: len(b) for d, b in blobs.items()}}
    with StatementLog(registry.state.engine) as log:
        response = registry.api("PUT", f"/api/package/alice/{name}/{registry.tophash(contents)}", token=token,
                                body=body, compress=True)
    assert response.status_code == 200, response.get_json()
    return len(log.statements)


def test_push_statements_do_not_grow_with_fragments(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    small = push_many(registry, token, "small", 500)
    large = push_many(registry, token, "large", 5000)
    # 5000 fragments are a few more 2000-row chunks than 500, never thousands of statements.
    assert large - small <= 12, (small, large)
    assert large < 60


def test_reads_that_do_not_need_the_tree_do_not_load_it(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    response, top_hash = registry.push(token, "alice", "demo", {"a": b"a", "b/c": b"c"})
    assert response.status_code == 200
    for path in ("/api/package/alice/demo/", "/api/package/alice/", "/api/tag/alice/demo/latest"):
        with StatementLog(registry.state.engine) as log:
            assert registry.api("GET", path, token=token).status_code == 200
        assert not any("tree_piece" in s for s in log.statements), path
    with StatementLog(registry.state.engine) as log:
        install = registry.api("GET", f"/api/package/alice/demo/{top_hash}", token=token)
    assert install.status_code == 200
    assert sum("tree_piece" in s for s in log.statements) == 1
    assert json.loads(install.get_data())["contents"] == build_tree({"a": b"a", "b/c": b"c"})[0]
