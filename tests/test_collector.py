"""registry.collector: the cycle collector runs rarely while any request holds it relaxed, never
stops, and gets its thresholds back once the last one ends."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from registry import collector

USUAL = (700, 10, 10)


@pytest.fixture(autouse=True)
def thresholds_restored():
    before = gc.get_threshold()
    gc.set_threshold(*USUAL)
    yield
    gc.set_threshold(*before)


def test_relaxed_until_the_last_holder_ends():
    entered, release = threading.Event(), threading.Event()

    def long_request():
        with collector.relaxed():
            entered.set()
            release.wait(10)

    other = threading.Thread(target=long_request)
    other.start()
    entered.wait(10)
    with collector.relaxed():
        assert gc.get_threshold() == collector.RELAXED_THRESHOLDS
    assert gc.get_threshold() == collector.RELAXED_THRESHOLDS  # the other request still holds it
    release.set()
    other.join(10)
    assert gc.get_threshold() == USUAL


def test_cycles_are_still_collected_while_relaxed():
    class Node:
        pass

    watched = []
    with collector.relaxed():
        for i in range(3 * collector.RELAXED_THRESHOLDS[0]):
            node = Node()
            node.self = node  # a cycle: only the collector can free it
            if i % 1000 == 0:
                watched.append(weakref.ref(node))
        del node
        alive = sum(ref() is not None for ref in watched)
    # Without a collection, all 300 would still be alive; the early ones were collected meanwhile.
    assert alive < len(watched) // 2, (alive, len(watched))


def test_a_failing_view_gives_the_thresholds_back():
    @collector.relaxed_during
    def view():
        assert gc.get_threshold() == collector.RELAXED_THRESHOLDS
        raise ValueError("bad body")

    with pytest.raises(ValueError):
        view()
    assert gc.get_threshold() == USUAL


def test_paused_until_the_last_pauser_ends_then_on_again():
    entered, release = threading.Event(), threading.Event()

    def long_parse():
        with collector.paused():
            entered.set()
            release.wait(10)

    other = threading.Thread(target=long_parse)
    other.start()
    entered.wait(10)
    with collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other parse still holds it
    release.set()
    other.join(10)
    assert gc.isenabled()


def test_a_pause_left_disabled_by_the_caller_stays_disabled():
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_old_pause_takes_no_new_pausers(monkeypatch):
    """Overlapping parses cannot keep the collector off: once the pause is older than
    MAX_PAUSE_SECONDS, a new parse does not join it, so it ends with the parses already in it."""
    monkeypatch.setattr(collector, "MAX_PAUSE_SECONDS", 0.0)
    entered, release, joined = threading.Event(), threading.Event(), threading.Event()

    def long_parse():
        with collector.paused():
            entered.set()
            release.wait(10)

    other = threading.Thread(target=long_parse)
    other.start()
    entered.wait(10)
    with collector.paused():
        joined.set()
        release.set()
        other.join(10)
        assert gc.isenabled()  # the first parse ended the pause; this one never held it
    assert gc.isenabled()
