"""The order the lanes run their tests in (tests/conftest.py)."""

import types

from conftest import LONGEST_FIRST, order_longest_first


def fake(nodeid):
    return types.SimpleNamespace(nodeid=nodeid)


def test_the_longest_tests_start_the_worker_shares_and_the_rest_keep_their_order():
    longest = list(LONGEST_FIRST)[:5]  # 303, 260, 211, 171, 131 seconds
    others = [f"tests/test_x.py::test_{i}" for i in range(15)]
    names = others[:4] + [longest[3]] + others[4:9] + [longest[0], longest[4]] + others[9:]
    names += [longest[2], longest[1]]
    items = [fake(n) for n in names]
    order_longest_first(items, 2)
    ids = [i.nodeid for i in items]
    assert sorted(ids) == sorted(names)  # nothing lost or repeated
    first, second = ids[: len(ids) // 2], ids[len(ids) // 2 :]  # worksteal's two shares
    # longest first, each to the share with less so far: 303 | 260, 211 | 171 | 131
    assert first[:2] == [longest[0], longest[3]]
    assert second[:3] == [longest[1], longest[2], longest[4]]
    assert [n for n in ids if n in others] == others
    assert set(first[2:]) | set(second[3:]) == set(others)


def test_one_worker_or_no_long_test_leaves_the_order_alone():
    longest = list(LONGEST_FIRST)[0]
    names = ["tests/test_x.py::test_a", longest, "tests/test_x.py::test_b"]
    items = [fake(n) for n in names]
    order_longest_first(items, 1)
    assert [i.nodeid for i in items] == names
    plain = [fake(f"tests/test_x.py::test_{i}") for i in range(4)]
    order_longest_first(plain, 2)
    assert [i.nodeid for i in plain] == [f"tests/test_x.py::test_{i}" for i in range(4)]


def test_a_prefix_names_every_parametrisation_of_a_test():
    prefix = "tests/test_examples.py::test_blog_experiment"
    assert prefix in LONGEST_FIRST
    items = [fake(f"tests/test_x.py::test_{i}") for i in range(6)]
    items.append(fake(prefix + "_fit_and_evaluate_agree_only_when_pinned"))
    order_longest_first(items, 2)
    assert items[0].nodeid.startswith(prefix)
