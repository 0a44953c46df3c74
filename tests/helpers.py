"""A small driver for the registry in tests: users, tokens, push and install over the real API,
with fragment bytes moved through whatever URLs the registry hands out (its own or S3's)."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
from urllib.parse import urlsplit

import requests
from flask import Flask
from sqlalchemy import delete, event, select, update

from registry.models import KeywordGram, KeywordSet, User
from registry.services import grams, users
from registry.services.keywords import MAX_KEYWORDS_CHARS
from registry.tree import tophash


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_tree(files: dict[str, bytes]) -> tuple[dict, dict[str, bytes]]:
    """A quilt-style tree for {"dir/name": bytes}: folders are GROUPs, files FILE nodes."""
    root = {"type": "ROOT", "children": {}}
    blobs = {}
    for path, data in files.items():
        *folders, leaf = path.split("/")
        node = root
        for folder in folders:
            node = node["children"].setdefault(folder, {"type": "GROUP", "children": {}})
        digest = sha256(data)
        blobs[digest] = data
        node["children"][leaf] = {"type": "FILE", "hashes": [digest],
                                  "metadata": {"q_ext": "", "q_path": path, "q_target": "file"}}
    return root, blobs


class TestRegistry:
    __test__ = False  # not a test class, despite the name

    def __init__(self, app: Flask):
        self.app = app
        self.client = app.test_client()
        self.state = app.extensions["registry"]

    # Users and tokens

    def create_user(self, name: str, *, password: str | None = None, admin: bool = False,
                    active: bool = True) -> User:
        """A user; without a password unless the test signs in with one (scrypt costs ~0.3 s)."""
        with self.state.session_factory() as session:
            user = users.create_user(session, name, password=password, is_admin=admin)
            user.is_active = active
            session.commit()
            return user

    def token(self, name: str) -> str:
        """A valid access token for an existing user, issued like `POST /api/token` would."""
        with self.state.session_factory() as session:
            user = users.get_user(session, name)
            pair = self.state.tokens.issue_tokens(session, user)
            session.commit()
            return pair.access_token

    def login_code(self, name: str) -> str:
        with self.state.session_factory() as session:
            code = self.state.tokens.issue_code(session, users.get_user(session, name))
            session.commit()
            return code

    # API

    def api(self, method: str, path: str, *, token: str | None = None, body=None, compress: bool = False,
            **kwargs):
        headers = kwargs.pop("headers", {})
        headers.setdefault("Content-Type", "application/json")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = kwargs.pop("data", None)
        if body is not None:
            data = json.dumps(body).encode()
            if compress:
                data = gzip.compress(data)
                headers["Content-Encoding"] = "gzip"
        return self.client.open(path, method=method, data=data, headers=headers, **kwargs)

    def transfer(self, method: str, url: str, data: bytes | None = None, headers: dict | None = None):
        """Follow a blob URL: our own /blobs URLs through the test client, S3 URLs over HTTP.
        Returns (status, headers, body)."""
        parts = urlsplit(url)
        if parts.path.startswith("/blobs/"):
            response = self.client.open(f"{parts.path}?{parts.query}", method=method, data=data, headers=headers or {})
            with response:  # a file response holds the file open until closed, as a WSGI server does
                return response.status_code, response.headers, response.get_data()
        response = requests.request(method, url, data=data, headers=headers or {}, timeout=30)
        return response.status_code, response.headers, response.content

    # Whole operations, as the quilt client performs them

    def push(self, token: str, owner: str, name: str, files: dict[str, bytes], *, is_public: bool = False,
             is_team: bool = False, message: str | None = None, upload: bool = True):
        contents, blobs = build_tree(files)
        top_hash = self.tophash(contents)
        body = {"dry_run": True, "is_public": is_public, "is_team": is_team, "description": "",
                "contents": contents, "sizes": {}}
        dry = self.api("PUT", f"/api/package/{owner}/{name}/{top_hash}", token=token, body=body, compress=True)
        if dry.status_code != 200:
            return dry, top_hash
        if upload:
            for digest, urls in dry.get_json()["upload_urls"].items():
                status, _, _ = self.transfer("HEAD", urls["head"])
                if status != 200:
                    status, _, _ = self.transfer("PUT", urls["put"], data=blobs[digest])
                    assert status == 200, f"upload of {digest} failed with {status}"
        body.update(dry_run=False, sizes={d: len(b) for d, b in blobs.items()})
        if message is not None:
            body["message"] = message
        return self.api("PUT", f"/api/package/{owner}/{name}/{top_hash}", token=token, body=body,
                        compress=True), top_hash

    @staticmethod
    def tophash(contents: dict) -> str:
        return tophash(contents)

    def download(self, url: str, size: int) -> bytes:
        headers = {"Range": "bytes=0-"} if size else {}
        status, response_headers, body = self.transfer("GET", url, headers=headers)
        assert status == (206 if size else 200), status
        if size:
            assert response_headers["Content-Range"] == f"bytes 0-{size - 1}/{size}"
        return body


# Over real HTTP, against a live registry (tests/support/live_server.py)

HTTP_TIMEOUT = 60


def http_send(method: str, url: str, token: str, body=None, timeout: float = HTTP_TIMEOUT) -> requests.Response:
    """An API request as the quilt client sends it: bearer token, gzipped JSON body."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = None
    if body is not None:
        data = gzip.compress(json.dumps(body).encode())
        headers["Content-Encoding"] = "gzip"
    return requests.request(method, url, data=data, headers=headers, timeout=timeout)


def http_push(base: str, token: str, owner: str, name: str, files: dict[str, bytes], message: str = "",
              timeout: float = HTTP_TIMEOUT) -> tuple[int, str]:
    """A push as the quilt client makes it: dry run, HEAD/PUT each fragment, real push.
    Returns the status of the dry run when it fails, else of the real push, and the tophash."""
    contents, blobs = build_tree(files)
    top_hash = tophash(contents)
    url = f"{base}/api/package/{owner}/{name}/{top_hash}"
    body = {"dry_run": True, "is_public": False, "is_team": False, "description": "", "contents": contents,
            "sizes": {}, "message": message}
    dry = http_send("PUT", url, token, body, timeout)
    if dry.status_code != 200:
        return dry.status_code, top_hash
    for digest, urls in dry.json()["upload_urls"].items():
        if requests.head(urls["head"], timeout=timeout).status_code != 200:
            assert requests.put(urls["put"], data=blobs[digest], timeout=timeout).status_code == 200
    body.update(dry_run=False, sizes={d: len(b) for d, b in blobs.items()})
    return http_send("PUT", url, token, body, timeout).status_code, top_hash


def linked_hashes_by_instance(session) -> dict[int, set[str]]:
    """Each instance's fragments, read through the link tables (instance_chunk, chunk_blob)."""
    from registry.models import Blob, ChunkBlob, InstanceChunk

    linked: dict[int, set[str]] = {}
    for instance_id, hash_ in session.execute(
            select(InstanceChunk.instance_id, Blob.hash).join(ChunkBlob, ChunkBlob.chunk_id == InstanceChunk.chunk_id)
            .join(Blob, Blob.id == ChunkBlob.blob_id)):
        linked.setdefault(instance_id, set()).add(hash_)
    return linked


def stored_batch(registry, owner: str, hash_: str) -> str | None:
    """The upload batch holding the owner's fragment, as its row says (None: `objs/OWNER/HASH`)."""
    from registry.models import Blob

    with registry.state.session_factory() as session:
        return session.scalar(select(Blob.batch).where(Blob.owner == owner, Blob.hash == hash_))


def stored_key(registry, owner: str, hash_: str) -> str:
    from registry.storage import object_key

    return object_key(owner, hash_, stored_batch(registry, owner, hash_))


def put_s3_object(seaweedfs, bucket: str, key: str, data: bytes) -> None:
    """An object in a bucket of the test's SeaweedFS other than the registry's (a data lake)."""
    client = seaweedfs.client()
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.ClientError as exc:
        if "BucketAlready" not in str(exc):
            raise
    client.put_object(Bucket=bucket, Key=key, Body=data)


@contextlib.contextmanager
def recorded_statements(engine):
    """The statements (with their parameters) the engine runs in the block."""
    seen: list[tuple[str, object]] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def query_plans(engine, statements: list[tuple[str, object]]) -> list[list]:
    """Each recorded statement's plan as the database explains it: SQLite's EXPLAIN QUERY PLAN
    steps (strings), MariaDB/MySQL's EXPLAIN rows (dicts by column)."""
    plans = []
    with engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            for statement, parameters in statements:
                if engine.dialect.name == "sqlite":
                    cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                    plans.append([row[3] for row in cursor.fetchall()])
                else:
                    cursor.execute("EXPLAIN " + statement, parameters)
                    columns = [d[0] for d in cursor.description]
                    plans.append([dict(zip(columns, row)) for row in cursor.fetchall()])
        finally:
            cursor.close()
    return plans


# Search's worst case: node names that begin like every searched word over and over (LIKE
# compares at each start), as long as a push may make them, ending with these words.
LATE_WORDS = [f"zzlast{i}" for i in range(9)]
_FILLER = "zzlast_ "


def slow_search_names() -> str:
    """One package's node names (a keyword set) that make a search of LATE_WORDS scan them all:
    the grams of every word are there, so the gram index narrows nothing."""
    late = " ".join(LATE_WORDS)
    return _FILLER * ((MAX_KEYWORDS_CHARS - len(late)) // len(_FILLER)) + late


def rename_every_keyword_set(session, words: str) -> int:
    """Gives every keyword set the node names `words`, with their grams (search reads names
    through them); answers how many sets there are. The caller commits."""
    set_ids = session.scalars(select(KeywordSet.id)).all()
    for set_id in set_ids:
        rename_keyword_set(session, set_id, words)
    return len(set_ids)


def rename_keyword_set(session, set_id: int, words: str) -> None:
    """Gives the keyword set `set_id` the node names `words`, with their grams. The caller commits."""
    codes = grams.text_grams(words)
    session.execute(delete(KeywordGram).where(KeywordGram.keyword_set_id == set_id))
    session.execute(update(KeywordSet).where(KeywordSet.id == set_id).values(words=words, indexed=codes is not None))
    grams.index(session, KeywordGram.__table__, "keyword_set_id", set_id, codes)
