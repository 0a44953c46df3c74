import os
import stat

import pytest

from registry import Settings
from registry.secrets import ConfigurationError, resolve_secret_key


def test_defaults_need_no_settings(tmp_path):
    settings = Settings.from_env({"XDG_DATA_HOME": str(tmp_path)})
    assert settings.storage == "local"
    assert settings.is_embedded_database


def test_every_setting_is_read_from_its_variable(tmp_path):
    settings = Settings.from_env({
        "REGISTRY_DATA_DIR": str(tmp_path), "REGISTRY_DATABASE_URL": "mysql+pymysql://u@h/db",
        "REGISTRY_STORAGE": "s3", "REGISTRY_S3_BUCKET": "b", "REGISTRY_S3_CREATE_BUCKET": "yes",
        "REGISTRY_URL_EXPIRY_SECONDS": "60", "REGISTRY_ALLOW_TEAM_ACCESS": "false",
        "REGISTRY_DATABASE_STATEMENT_TIMEOUT": "2.5"})
    assert (settings.data_dir, settings.database_url, settings.storage, settings.s3_bucket) == (
        tmp_path, "mysql+pymysql://u@h/db", "s3", "b")
    assert (settings.s3_create_bucket, settings.url_expiry_seconds, settings.allow_team_access) == (True, 60, False)
    assert settings.database_statement_timeout == 2.5
    assert not settings.is_embedded_database


@pytest.mark.parametrize("variables,message", [
    ({"REGISTRY_STORAGE": "ftp"}, "REGISTRY_STORAGE must be 'local' or 's3'"),
    ({"REGISTRY_S3_CREATE_BUCKET": "maybe"}, "REGISTRY_S3_CREATE_BUCKET: not a boolean"),
    ({"REGISTRY_URL_EXPIRY_SECONDS": "soon"}, "REGISTRY_URL_EXPIRY_SECONDS"),
    ({"REGISTRY_S3_COPY_PART_BYTES": "1048576"}, "REGISTRY_S3_COPY_PART_BYTES must be between 5 MiB and 5 GiB"),
    ({"REGISTRY_S3_COPY_PART_BYTES": str(6 * 1024 ** 3)}, "REGISTRY_S3_COPY_PART_BYTES must be between"),
    ({"REGISTRY_DATABASE_STATEMENT_TIMEOUT": "-1"}, "REGISTRY_DATABASE_STATEMENT_TIMEOUT must be a number of seconds"),
    ({"REGISTRY_DATABASE_STATEMENT_TIMEOUT": "nan"}, "REGISTRY_DATABASE_STATEMENT_TIMEOUT must be a number of seconds"),
    ({"REGISTRY_DATABASE_STATEMENT_TIMEOUT": "soon"}, "REGISTRY_DATABASE_STATEMENT_TIMEOUT: could not convert"),
])
def test_bad_values_are_named(variables, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(variables)


def test_embedded_secret_is_generated_once_and_private(tmp_path):
    settings = Settings(data_dir=tmp_path)
    first = resolve_secret_key(settings)
    assert resolve_secret_key(settings) == first and len(first) > 40
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600


def test_production_requires_a_secret(tmp_path):
    with pytest.raises(ConfigurationError, match="REGISTRY_SECRET_KEY must be set"):
        resolve_secret_key(Settings(data_dir=tmp_path, database_url="mysql+pymysql://u@h/db"))
    strong = "Zq8v-" + "kT3x_" * 6
    assert resolve_secret_key(Settings(data_dir=tmp_path, database_url="mysql+pymysql://u@h/db",
                                       secret_key=strong)) == strong
