"""The README's demo: its quick form end to end, its data, and the reading it prints."""

import sys

import numpy as np
import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "examples"))
import demo  # noqa: E402  (examples/demo.py: the demo is not part of the package)


@pytest.mark.slow  # the demo end to end (fits several models): the slow lane, with the examples
def test_demo_quick_run_shows_the_difference(capsys):
    results = demo.main(["--quick", "--seed", "1"])
    out = capsys.readouterr().out
    settings = demo.SETTINGS["quick"]
    steps = 1 + settings["seeds"] * len(settings["batch_sizes"])
    assert f"[{steps}/{steps}]" in out
    for title, _, _ in demo.VARIANTS.values():
        assert title in out
    for row in demo.ROWS:
        assert row in out
    # the paragraph printed is the one written from this run's numbers
    assert " ".join(out.split("\n\n")[-1].split()) == results["reading"]

    pre = results["pretraining"]
    assert 0.0 <= pre["moving averages"] <= 1.0 and 0.0 <= pre["precise BN"] <= 1.0
    for batch_size, columns in results["finetuning"].items():
        assert batch_size in settings["batch_sizes"]
        assert set(columns) == set(demo.VARIANTS)
        # pinned statistics never move during fine-tuning, AdaBN's neither (it runs before);
        # Keras' default lets them drift
        for pinned in ("pinned", "adabn"):
            assert columns[pinned]["moving mean drift (mean |d|)"] == (0.0, 0.0)
            assert columns[pinned]["moving variance drift (rel.)"] == (0.0, 0.0)
        assert columns["unpinned"]["moving mean drift (mean |d|)"][0] > 0.0
        assert columns["unpinned"]["moving variance drift (rel.)"][0] > 0.0
    for batch_size, columns in results["runs"].items():
        for variant, runs in columns.items():
            assert len(runs) == settings["seeds"]
            for run in runs:
                assert 0.0 <= run["held-out accuracy"] <= 1.0
                assert run["gap (fit - evaluate)"] == pytest.approx(
                    run["fit accuracy (last epoch)"] - run["evaluate, same labelled images"]
                )
            means = results["finetuning"][batch_size][variant]["held-out accuracy"]
            assert means[0] == pytest.approx(np.mean([r["held-out accuracy"] for r in runs]))
            assert means[1] == pytest.approx(np.std([r["held-out accuracy"] for r in runs]))
    # the seeds differ: the runs are not copies of one another
    unpinned = results["runs"][settings["batch_sizes"][0]]["unpinned"]
    assert len({r["moving mean drift (mean |d|)"] for r in unpinned}) == settings["seeds"]


def test_demo_data_sets():
    x, y = demo.load_digits_rgb()
    assert x.shape == (1797, 32, 32, 3) and y.shape == (1797,)
    assert x.min() == 0.0 and x.max() == 255.0
    assert (x[..., 0] == x[..., 2]).all()
    x, y = demo.load_mnist_rgb()
    assert x.shape == (5000, 32, 32, 3) and y.shape == (5000,)
    assert x.min() == 0.0 and x.max() == 255.0
    assert (x[:, :2] == 0).all() and (x[:, :, -2:] == 0).all()  # zero padding around 28x28
    assert np.bincount(y).tolist() == [500] * 10


def test_subset_renumbers_and_separates():
    x = np.arange(40, dtype="float32")[:, None]
    y = np.arange(40) % 10
    (xa, ya), (xb, yb) = demo.subset(x, y, np.arange(5, 10), np.random.default_rng(0), 8)
    assert len(xa) == 8 and len(xb) == 12
    assert set(ya) | set(yb) <= set(range(5))
    assert not set(xa[:, 0]) & set(xb[:, 0])
    assert (y[xa[:, 0].astype(int)] == ya + 5).all()


def _summary(held, gap=0.0, drift=0.0, std=0.01):
    values = dict.fromkeys(demo.ROWS, (0.0, 0.0))
    values["held-out accuracy"] = (held, std)
    values["gap (fit - evaluate)"] = (gap, std)
    values["moving mean drift (mean |d|)"] = (drift, 0.0)
    return values


def _results(unpinned, pinned, adabn):
    return {
        4: {
            "unpinned": _summary(unpinned, gap=0.3, drift=0.02),
            "pinned": _summary(pinned, gap=0.01),
            "adabn": _summary(adabn, gap=0.01),
        }
    }


@pytest.mark.parametrize(
    "held, expected, unexpected",
    [
        (
            (0.25, 0.48, 0.35),
            [
                "paid off",
                "higher with pinned BN (0.480 pinned vs 0.250 unpinned)",
                "AdaBN before pinning hurt",
            ],
            ["no clear"],
        ),
        (
            (0.48, 0.25, 0.25),
            ["did not pay off", "lower with pinned BN", "no clear difference here"],
            ["paid off"],
        ),
        (
            (0.40, 0.405, 0.50),
            ["no clear difference (0.405 pinned vs 0.400", "AdaBN before pinning helped"],
            ["paid off", "hurt"],
        ),
    ],
)
def test_reading_follows_the_numbers(held, expected, unexpected):
    text = demo.reading(
        {"moving averages": 0.2, "precise BN": 0.88}, _results(*held), seeds=3, labelled=100
    )
    for phrase in expected + [
        "larger unpinned at batch 4 (+0.300 vs +0.010 pinned)",
        "lagged the weights",
    ]:
        assert phrase in text
    for phrase in unexpected:
        assert phrase not in text


def test_reading_of_the_pretraining_follows_the_numbers():
    results = _results(0.3, 0.3, 0.3)
    text = demo.reading({"moving averages": 0.9, "precise BN": 0.5}, results, seeds=3, labelled=100)
    assert "did not help" in text and "lagged" not in text
    text = demo.reading(
        {"moving averages": 0.9, "precise BN": 0.905}, results, seeds=3, labelled=100
    )
    assert "changed little" in text and "lagged" not in text
