"""Both stores answer failures with the same storage errors (registry.errors), never with an
OSError or a botocore error: a missing object is FragmentMissing (404), the store refusing the
registry is StorageAccessDenied (503), a store that does not answer is StorageUnavailable (503).
S3 is real SeaweedFS; `/blobs/...` exists only where the registry serves the bytes itself."""

import io
import socket

import pytest

from registry import Settings, create_app
from registry.errors import FragmentMissing, StorageAccessDenied, StorageUnavailable
from registry.storage import LocalBlobStore, S3BlobStore
from registry.storage import local as local_module
from tests.conftest import s3_settings, s3_store
from tests.helpers import sha256

DATA = b"0123456789" * 100
ABSENT = "f" * 64


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs", "a-test-secret")
    return s3_store(request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_bucket"))


def put(store, owner: str, data: bytes) -> str:
    digest = sha256(data)
    if isinstance(store, LocalBlobStore):
        store.write(owner, digest, io.BytesIO(data))
    else:
        store.client.put_object(Bucket=store.bucket, Key=f"objs/{owner}/{digest}", Body=data)
    return digest


def assert_missing(error: pytest.ExceptionInfo, owner: str, hash_: str) -> None:
    assert (error.value.status, error.value.code) == (404, "fragment_missing")
    assert error.value.message == f"Blob storage holds no fragment at objs/{owner}/{hash_}"


def test_a_missing_fragment_is_a_404_on_read_and_stream(store):
    with pytest.raises(FragmentMissing) as read:
        store.read("alice", ABSENT, 100)
    assert_missing(read, "alice", ABSENT)
    with pytest.raises(FragmentMissing) as streamed:
        next(iter(store.stream("alice", ABSENT)))
    assert_missing(streamed, "alice", ABSENT)


def test_lookups_and_deletes_of_a_missing_fragment_are_no_errors(store):
    assert store.sizes("alice", [ABSENT]) == {}
    assert store.stored_sha256("alice", ABSENT) is None
    assert store.staged_sizes("alice", "bob") == {}
    store.delete("alice", ABSENT)
    store.delete_key(f"objs/alice/{ABSENT}")


def test_stored_fragments_read_whole_partly_and_empty(store):
    digest = put(store, "alice", DATA)
    assert store.read("alice", digest, 10) == DATA[:10]
    assert b"".join(store.stream("alice", digest)) == DATA
    empty = put(store, "alice", b"")
    assert store.read("alice", empty, 10) == b""  # S3 refuses a range of an empty object: still b""


def test_s3_refusing_the_registrys_credentials_is_access_denied(seaweedfs, s3_bucket):
    store = s3_store(seaweedfs, s3_bucket, secret_access_key="not-the-secret")
    calls = {"read": lambda: store.read("alice", ABSENT, 10),
             "stream": lambda: next(iter(store.stream("alice", ABSENT))),
             "sizes": lambda: store.sizes("alice", [ABSENT]),
             "listing": lambda: store.staged_sizes("alice", "bob"),
             "delete": lambda: store.delete("alice", ABSENT),
             "check": store.check}
    for name, call in calls.items():
        with pytest.raises(StorageAccessDenied) as refused:
            call()
        assert (refused.value.status, refused.value.code) == (503, "storage_access_denied"), name


def test_the_local_folder_refusing_the_registry_is_access_denied(tmp_path, monkeypatch):
    # The tests run as root, whom file modes do not stop: the refusal is the one open() would raise.
    store = LocalBlobStore(tmp_path / "blobs", "a-test-secret")
    digest = put(store, "alice", DATA)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(store.path("alice", digest)))

    monkeypatch.setattr(local_module, "open", refused, raising=False)
    for call in (lambda: store.read("alice", digest, 10), lambda: next(iter(store.stream("alice", digest)))):
        with pytest.raises(StorageAccessDenied) as denied:
            call()
        assert (denied.value.status, denied.value.code) == (503, "storage_access_denied")
        assert str(tmp_path) not in denied.value.message  # the folder is not the client's business


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_s3_that_does_not_answer_is_unavailable():
    store = S3BlobStore("nowhere", endpoint_url=f"http://127.0.0.1:{closed_port()}", access_key_id="AK",
                        secret_access_key="SK", connect_timeout=0.5, read_timeout=0.5, max_attempts=1,
                        check_timeout=0.5)
    for call in (lambda: store.read("alice", ABSENT, 10), lambda: next(iter(store.stream("alice", ABSENT))),
                 lambda: store.sizes("alice", [ABSENT]), lambda: store.staged_sizes("alice", "bob"),
                 lambda: store.delete("alice", ABSENT), store.check):
        with pytest.raises(StorageUnavailable) as down:
            call()
        assert (down.value.status, down.value.code) == (503, "storage_unavailable")


def test_a_missing_bucket_is_unavailable_not_a_missing_fragment(seaweedfs):
    store = s3_store(seaweedfs, "no-such-bucket-here")
    for call in (store.check, lambda: store.staged_sizes("alice", "bob")):
        with pytest.raises(StorageUnavailable) as down:
            call()
        assert down.value.code == "storage_unavailable"


def test_a_local_folder_that_is_not_one_is_unavailable(tmp_path):
    (tmp_path / "blobs").write_text("a file where the folder should be")
    store = LocalBlobStore(tmp_path / "blobs", "a-test-secret")
    for call in (lambda: store.read("alice", ABSENT, 10), lambda: next(iter(store.stream("alice", ABSENT))),
                 lambda: store.sizes("alice", [ABSENT]), lambda: store.delete("alice", ABSENT),
                 lambda: store.write("alice", sha256(DATA), io.BytesIO(DATA)), store.check):
        with pytest.raises(StorageUnavailable) as down:
            call()
        assert (down.value.status, down.value.code) == (503, "storage_unavailable")


# /blobs/... is the local store's: on S3 nothing answers there but the one 404.

def blob_paths(digest: str) -> list[tuple[str, str]]:
    return [("GET", f"/blobs/alice/{digest}?m=GET&e=9999999999&s=x"),
            ("HEAD", f"/blobs/alice/{digest}?m=HEAD&e=9999999999&s=x"),
            ("PUT", f"/blobs/alice/{digest}?m=PUT&e=9999999999&s=x"),
            ("PUT", f"/blobs/staging/alice/bob/{digest}?m=PUT&e=9999999999&s=x"),
            ("PUT", f"/blobs/multipart/{'0' * 32}/1?m=PUT&e=9999999999&s=x")]


def test_blobs_paths_are_a_plain_404_on_s3(settings, seaweedfs, s3_bucket):
    app = create_app(Settings(**{**settings.__dict__, **s3_settings(seaweedfs, s3_bucket)}))
    try:
        client = app.test_client()
        for method, path in blob_paths(sha256(DATA)):
            response = client.open(path, method=method, data=DATA)
            assert response.status_code == 404, (method, path)
            if method != "HEAD":
                assert set(response.get_json()) == {"message", "code", "status"}
                assert response.get_json()["code"] == "not_found"
    finally:
        app.extensions["registry"].engine.dispose()


def test_blobs_paths_are_served_on_the_local_store(registry):
    digest = sha256(DATA)
    for method, path in blob_paths(digest):  # routed: a bad signature is refused, not unknown
        assert registry.client.open(path, method=method, data=DATA).status_code == 403, (method, path)
    store = registry.state.store.bind("http://localhost")
    assert registry.transfer("PUT", store.upload_urls("alice", digest)["put"], data=DATA)[0] == 200
    assert registry.transfer("GET", store.download_url("alice", digest))[2] == DATA
