"""Fixtures: one suite, two databases (SQLite and MariaDB), two blob stores (local and S3).

Every test that touches the database runs once per database. Databases and buckets are created
per test session and dropped at its end. Rows are deleted after each test rather than rolled back,
because the end-to-end tests talk to a registry in another process that must see committed data.
A database or S3 server that cannot be reached fails the run: nothing is silently skipped.
"""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry import Settings, create_app, migrate
from registry.db import Base, make_engine
from registry.storage import S3BlobStore
from tests.helpers import TestRegistry
from tests.support.quilt_cli import ensure_quilt_venv
from tests.support.seaweedfs import SeaweedFS

MYSQL_SERVER = "mysql+pymysql://root@127.0.0.1:3306/"
DATABASES = [name.strip() for name in os.environ.get("REGISTRY_TEST_DATABASES", "sqlite,mysql").split(",") if name.strip()]
ROOT = Path(__file__).resolve().parent.parent
# A fresh secret for each run: the registry refuses short ones and any value printed in the repository.
TEST_SECRET_KEY = secrets.token_urlsafe(48)


def _worker(request) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request, tmp_path_factory):
    """A freshly migrated database for this test session (one per xdist worker)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'registry.db'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
        return
    assert request.param == "mysql", f"unknown database kind {request.param!r}"
    server = make_url(os.environ.get("REGISTRY_TEST_DATABASE_URL", MYSQL_SERVER))
    name = f"registry_test_{_worker(request)}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database=""))
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    except Exception as exc:  # noqa: BLE001 - report any connection failure the same way
        pytest.fail(f"MariaDB/MySQL at {server.render_as_string(hide_password=True)} is not reachable ({exc}). "
                    "Start it, point REGISTRY_TEST_DATABASE_URL at one, or run with REGISTRY_TEST_DATABASES=sqlite.",
                    pytrace=False)
    url = server.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


_cleaners: dict[str, object] = {}


@pytest.fixture
def clean_database(database_url):
    yield database_url
    engine = _cleaners.setdefault(database_url, make_engine(database_url))
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(scope="session")
def seaweedfs(request, tmp_path_factory):
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001
        server.stop()
        pytest.fail(f"SeaweedFS (the S3 server for tests) did not start: {exc}", pytrace=False)
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(seaweedfs):
    """A bucket emptied after the test (objects and unfinished multipart uploads), so no test
    sees another's fragments."""
    client = seaweedfs.client()
    bucket = "registry-tests"
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    except client.exceptions.ClientError as exc:
        if "BucketAlreadyExists" not in str(exc):
            raise
    yield bucket
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", ()):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def s3_store(seaweedfs: SeaweedFS, bucket: str, **overrides) -> S3BlobStore:
    """A store on the test SeaweedFS, one try per call unless `overrides` say otherwise."""
    options = {"endpoint_url": seaweedfs.endpoint_url, "region": seaweedfs.region,
               "access_key_id": seaweedfs.access_key, "secret_access_key": seaweedfs.secret_key,
               "max_attempts": 1, **overrides}
    return S3BlobStore(bucket, **options)


def s3_settings(seaweedfs: SeaweedFS, bucket: str) -> dict:
    return {"storage": "s3", "s3_bucket": bucket, "s3_endpoint_url": seaweedfs.endpoint_url,
            "s3_region": seaweedfs.region, "s3_access_key_id": seaweedfs.access_key,
            "s3_secret_access_key": seaweedfs.secret_key}


@pytest.fixture
def settings(clean_database, tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=clean_database, secret_key=TEST_SECRET_KEY)


@pytest.fixture(params=["local", "s3"])
def storage_settings(request, settings):
    """The same settings on each blob store in turn."""
    if request.param == "local":
        return settings
    seaweedfs = request.getfixturevalue("seaweedfs")
    bucket = request.getfixturevalue("s3_bucket")
    return Settings(**{**settings.__dict__, **s3_settings(seaweedfs, bucket)})


def _registry(settings: Settings):
    app = create_app(settings)
    yield TestRegistry(app)
    app.extensions["registry"].engine.dispose()


@pytest.fixture
def registry(settings):
    """The registry on the local store, driven through Flask's test client."""
    yield from _registry(settings)


@pytest.fixture
def any_registry(storage_settings):
    """The registry on each blob store in turn."""
    yield from _registry(storage_settings)


@pytest.fixture(scope="session")
def quilt_venv():
    """The published quilt 2.9.15 client in its own virtual environment, built once under .cache/."""
    return ensure_quilt_venv(ROOT / ".cache")
