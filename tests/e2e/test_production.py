"""The production sequence of docker-compose.yml, without containers: a new MariaDB database,
SeaweedFS, `registry db upgrade`, `registry serve` under gunicorn on a loopback port, then a push
and an install with the published client."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry import Settings
from tests.conftest import MYSQL_SERVER, TEST_SECRET_KEY, s3_settings
from tests.support.live_server import LiveRegistry, settings_env
from tests.support.quilt_cli import QuiltClient

pytestmark = pytest.mark.e2e


@pytest.fixture
def production_database():
    server = make_url(os.environ.get("REGISTRY_TEST_DATABASE_URL", MYSQL_SERVER))
    name = f"registry_prod_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database=""))
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


def registry_command(env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "registry", *args], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_mariadb_seaweedfs_gunicorn_push_and_install(production_database, seaweedfs, s3_bucket, quilt_venv, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url=production_database, secret_key=TEST_SECRET_KEY,
                        **{k: v for k, v in s3_settings(seaweedfs, s3_bucket).items() if not k.startswith("s3_access")
                           and not k.startswith("s3_secret")})
    # Credentials the standard boto3 way, as in the compose file.
    env = {**os.environ, **settings_env(settings), "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
           "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key}
    assert "Database at revision" in registry_command(env, "db", "upgrade").stdout
    registry_command(env, "users", "create", "alice", "--password", "alice-password")
    code = registry_command(env, "users", "code", "alice").stdout.strip()

    extra = {"AWS_ACCESS_KEY_ID": seaweedfs.access_key, "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key}
    with LiveRegistry(settings, tmp_path / "server.log", extra_env=extra) as server:
        venv = quilt_venv
        source = tmp_path / "source"
        (source / "nested").mkdir(parents=True)
        (source / "README.md").write_text("# Production\n")
        (source / "nested" / "values.bin").write_bytes(os.urandom(50_000))
        publisher = QuiltClient(venv, tmp_path / "publisher", server.url)
        publisher.login(code)
        publisher.build_raw("alice/prod", source)
        publisher.run("push", "alice/prod")
        installer = QuiltClient(venv, tmp_path / "installer", server.url)
        installer.login(registry_command(env, "users", "code", "alice").stdout.strip())
        installer.run("install", "alice/prod")
        exported = tmp_path / "exported"
        installer.export("alice/prod", exported)
        files = ["README.md", "nested/values.bin"]
        assert filecmp.cmpfiles(source, exported, files, shallow=False) == (files, [], [])
        doctor = subprocess.run([sys.executable, "-m", "registry", "doctor"], env=env, capture_output=True, text=True,
                                timeout=120)
        assert doctor.returncode == 0, doctor.stdout
    # The fragments really are in the bucket, not in the data directory.
    keys = [o["Key"] for o in seaweedfs.client().list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    # The owner's uploads stay in the upload batch of their push (one listing checks them at commit).
    assert len([k for k in keys if k.startswith("uploads/alice/")]) == 2
    assert not (tmp_path / "data" / "blobs" / "objs").exists()
