"""registry.collector: the cycle collector stays off while any request holds it paused, and comes
back as it was once the last one ends."""

from __future__ import annotations

import gc
import threading

import pytest

from registry import collector


@pytest.fixture(autouse=True)
def collector_restored():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_paused_until_the_last_holder_ends():
    gc.enable()
    entered, release = threading.Event(), threading.Event()

    def long_request():
        with collector.paused():
            entered.set()
            release.wait(10)

    other = threading.Thread(target=long_request)
    other.start()
    entered.wait(10)
    with collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other request still holds it
    release.set()
    other.join(10)
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()


def test_a_failing_view_resumes_it():
    gc.enable()

    @collector.paused_during
    def view():
        assert not gc.isenabled()
        raise ValueError("bad body")

    with pytest.raises(ValueError):
        view()
    assert gc.isenabled()
