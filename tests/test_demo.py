"""The README's demo, in its quick form."""

import pytest

from keras_applications_bn import demo


def test_demo_quick_run_shows_the_difference(capsys):
    results = demo.main(["--quick", "--seed", "1"])
    out = capsys.readouterr().out
    assert "[5/5]" in out and "inference_bn=False" in out and "inference_bn=True" in out
    free, pinned = results["inference_bn=False"], results["inference_bn=True"]
    # pinned statistics never move; Keras' default lets them drift during phase 2
    assert pinned["moving mean drift (mean |d|)"] == 0.0
    assert pinned["moving variance drift (rel.)"] == 0.0
    assert free["moving mean drift (mean |d|)"] > 0.0
    assert free["moving variance drift (rel.)"] > 0.0
    for column in (free, pinned):
        assert 0.0 <= column["evaluate, same data"] <= 1.0
    # pinned: the forward pass fit runs is the one evaluate runs
    assert abs(pinned["training-mode pass, same data"] - pinned["evaluate, same data"]) <= 0.01
    for column in (free, pinned):
        assert column["gap (fit - evaluate)"] == pytest.approx(
            column["fit accuracy (last epoch)"] - column["evaluate, same data"]
        )


def test_digits_are_upsampled_rgb():
    x, y = demo.load_digits_rgb()
    assert x.shape == (1797, 32, 32, 3) and y.shape == (1797,)
    assert x.min() == 0.0 and x.max() == 255.0
    assert (x[..., 0] == x[..., 2]).all()
