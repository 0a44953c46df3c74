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
