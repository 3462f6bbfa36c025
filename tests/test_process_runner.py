"""The multi-process runner the scale-out tests share (``conftest.run_together``):
a process that never ends (a collective waiting forever) or one that fails stops
the test within its bound, the others killed, with each process's output."""

import sys
import time

import pytest

from conftest import run_together

SLEEP_FOREVER = [sys.executable, "-c", "import time; print('waiting', flush=True); time.sleep(600)"]


def test_a_stuck_process_fails_the_test_after_the_timeout_and_is_killed(tmp_path):
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"timed out after 3 s") as failed:
        run_together([(SLEEP_FOREVER, {}), (SLEEP_FOREVER, {})], tmp_path, timeout=3)
    assert time.monotonic() - started < 30
    assert str(failed.value).count("waiting") == 2  # both outputs shown


def test_one_failing_process_stops_the_others_at_once(tmp_path):
    fail = [sys.executable, "-c", "import sys; print('broken here'); sys.exit(3)"]
    started = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"a worker failed") as failed:
        run_together([(fail, {}), (SLEEP_FOREVER, {})], tmp_path, timeout=300, what="worker")
    assert time.monotonic() - started < 60  # not the 300 s bound, nor the other's 600 s
    assert "broken here" in str(failed.value)


def test_outputs_and_environment_reach_each_process(tmp_path):
    echo = [sys.executable, "-c", "import os; print('rank', os.environ['RANK'])"]
    outputs = run_together([(echo, {"RANK": "0"}), (echo, {"RANK": "1"})], tmp_path, timeout=60)
    assert [o.strip() for o in outputs] == ["rank 0", "rank 1"]
