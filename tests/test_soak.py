"""Workshop abuse: sliders dragged at random while training, Start twice, Stop mid-step."""

import random
import resource
import threading
import time

import pytest

from playground.config import HParams
from playground.engine.runner import Runner


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_sliders_moved_hundreds_of_times_a_second_last_value_wins():
    runner = Runner(HParams(samples=300, epochs=1000), device="cpu")
    runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 0)
    rates = [10 ** random.uniform(-4, 0) for _ in range(2000)]
    started = time.monotonic()
    for rate in rates:
        runner.update(lr=rate)
    assert time.monotonic() - started < 30  # no deadlock: 2000 updates came back
    last = runner.trainer.step
    wait_until(lambda: runner.trainer.step > last + 2, timeout=10)
    assert runner.trainer.hp.lr == rates[-1]
    assert runner.trainer.optimizer.param_groups[0]["lr"] == pytest.approx(rates[-1])
    assert runner.stop(timeout=10) == "stopped"


def test_start_twice_and_stop_from_many_threads():
    runner = Runner(HParams(samples=300, epochs=1000), device="cpu")
    threads = [threading.Thread(target=runner.start) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(runner.store.list_runs()) == 1
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 0)
    stoppers = [threading.Thread(target=runner.stop) for _ in range(5)]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join(10)
    assert runner.status == "stopped" and not runner.active


@pytest.mark.slow
def test_soak_memory_and_threads_stay_flat():
    runner = Runner(HParams(samples=300, epochs=1000, batch_size=8), device="cpu")
    reader = runner.record.reader()
    fields = {"lr": lambda: 10 ** random.uniform(-3, -1),
              "dropout": lambda: random.random() / 2,
              "momentum": lambda: random.uniform(0.5, 0.99),
              "batch_size": lambda: 2 ** random.randint(2, 6),
              "weight_decay": lambda: random.choice([0.0, 1e-4, 1e-3])}
    runner.start()
    wait_until(lambda: runner.trainer is not None and runner.trainer.step > 0)
    samples = []
    for _ in range(12):
        target = runner.trainer.step + 500
        while runner.trainer.step < target:
            name = random.choice(list(fields))
            runner.update(**{name: fields[name]()})
            reader.fetch()
            time.sleep(0.002)
        samples.append((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                        threading.active_count()))
    runner.stop()
    assert runner.trainer.step >= 6000 and runner.status == "stopped"
    rss = [rss for rss, _ in samples]
    assert rss[-1] - rss[2] < 50_000  # KiB: no growth with steps once warm
    assert len({count for _, count in samples}) == 1
