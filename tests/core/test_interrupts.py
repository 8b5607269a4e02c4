"""A stop signal inside ``interrupts.deferred`` is recorded, not raised, and the handlers come back."""

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import pytest

from gpucompare.core import interrupts


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_is_recorded_and_raised_only_when_asked(sig):
    before = signal.getsignal(sig)
    with interrupts.deferred() as caught:
        os.kill(os.getpid(), sig)
        # A pure-Python loop: the handler runs at the next bytecode, so it has run by its end.
        for _ in range(1000):
            pass
        assert caught.signal == sig
    assert signal.getsignal(sig) is before
    with pytest.raises(KeyboardInterrupt, match=sig.name):
        caught.raise_if_caught()


def test_the_first_of_two_signals_is_the_one_kept():
    with interrupts.deferred() as caught:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass
    assert caught.signal == signal.SIGTERM


def test_no_signal_raises_nothing():
    with interrupts.deferred() as caught:
        pass
    caught.raise_if_caught()
    assert caught.signal is None


def test_a_worker_thread_leaves_the_handlers_alone():
    before = signal.getsignal(signal.SIGINT)
    seen = []

    def inside():
        with interrupts.deferred():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join()
    assert seen == [before]


def test_a_pool_wait_ends_after_the_signal_and_the_workers_finish():
    # The build's loop: bounded waits, a check between them, running work allowed to end.
    release = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    with interrupts.deferred() as caught:
        futures = [pool.submit(release.wait, 30), pool.submit(lambda: "never started")]
        os.kill(os.getpid(), signal.SIGINT)
        while caught.signal is None and wait(futures, interrupts.CHECK_EVERY_S)[1]:
            pass
        release.set()
        pool.shutdown(wait=True, cancel_futures=True)
    assert caught.signal == signal.SIGINT
    assert futures[0].result() is True and futures[1].cancelled()
