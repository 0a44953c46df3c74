"""registry.version_order: its keys sort exactly as PEP 440 (packaging) sorts the versions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from registry import names
from registry.version_order import MAX_KEY_BYTES, sort_key

NUMBERS = st.one_of(st.integers(0, 12), st.sampled_from([99, 255, 256, 65_535, 65_536, 10 ** 20]))
LOCAL_SEGMENTS = st.one_of(NUMBERS.map(str), st.sampled_from(["a", "ab", "b", "z1", "0a", "ubuntu"]))


@st.composite
def versions(draw) -> str:
    text = f"{draw(NUMBERS)}!" if draw(st.booleans()) and draw(st.booleans()) else ""
    text += ".".join(str(part) for part in draw(st.lists(NUMBERS, min_size=1, max_size=5)))
    if draw(st.booleans()):
        text += draw(st.sampled_from(["a", "b", "rc", "alpha", "pre", "c"])) + str(draw(NUMBERS))
    if draw(st.booleans()):
        text += f".post{draw(NUMBERS)}"
    if draw(st.booleans()):
        text += f".dev{draw(NUMBERS)}"
    if draw(st.booleans()):
        text += "+" + ".".join(draw(st.lists(LOCAL_SEGMENTS, min_size=1, max_size=3)))
    return text


@settings(max_examples=2_000, deadline=None)
@given(versions(), versions())
def test_keys_compare_as_the_versions_do(first, second):
    a, b = Version(first), Version(second)
    assert (sort_key(first) < sort_key(second)) == (a < b)
    assert (sort_key(first) == sort_key(second)) == (a == b)


def test_any_spelling_of_a_version_has_its_key():
    assert sort_key("v1.0-PRE2") == sort_key("1.0rc2")
    assert sort_key("1.0") == sort_key("1.0.0") == sort_key("1")  # equal in PEP 440: the list adds the name


def test_an_ordered_list_of_every_kind():
    ordered = ["0.9", "1.0.dev0", "1.0a1.dev1", "1.0a1", "1.0a1.post1", "1.0b1", "1.0rc1", "1.0", "1.0+abc",
               "1.0+abc.1", "1.0+1", "1.0.post1.dev1", "1.0.post1", "1.0.1", "1.1", "1.10", "2", "255", "256",
               "1!0.0"]
    assert sorted(ordered, key=sort_key) == ordered == sorted(ordered, key=Version)


def test_the_longest_versions_fit_the_column():
    longest = ["1" + ".1" * 31, "0." * 31 + "1", "1+" + "1." * 30 + "1", "1+" + "a." * 30 + "a",
               "9" * 64, "1.0a9.post9.dev9+" + "1.a." * 11 + "1", "1!" + "1." * 30 + "1"]
    for version in longest:
        normalised, _ = names.parse_version(version)  # each is a version the registry accepts
        assert len(sort_key(normalised)) <= MAX_KEY_BYTES
