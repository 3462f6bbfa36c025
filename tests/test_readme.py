"""The README stays short and every docs page is reachable from the site's nav."""

import re

from keras_applications_bn.weights import registry

from conftest import REPO_ROOT


def nav_pages():
    """Every ``.md`` path named in mkdocs.yml's ``nav:`` section."""
    text = (REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return set(re.findall(r"^\s+-\s+(?:[^\n]*?:\s+)?([\w./-]+\.md)\s*$", nav, flags=re.M))


def test_readme_is_at_most_200_lines():
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move details to a docs/ page"


def test_every_docs_page_is_in_the_nav():
    pages = {
        p.relative_to(REPO_ROOT / "docs").as_posix() for p in (REPO_ROOT / "docs").rglob("*.md")
    }
    in_nav = nav_pages()
    assert "index.md" in in_nav and "reference/models.md" in in_nav  # the parser reads the nav
    assert pages - in_nav == set(), (
        f"docs pages missing from mkdocs.yml's nav: {sorted(pages - in_nav)}"
    )
    assert in_nav - pages == set(), f"nav entries without a page: {sorted(in_nav - pages)}"


def test_readme_links_to_docs_pages_exist():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    targets = {
        t.split("#")[0] for t in re.findall(r"\]\(((?:docs|examples)/[^)\s]+|[A-Z]+\.md)\)", text)
    }
    assert "docs/weights.md" in targets
    missing = sorted(t for t in targets if not (REPO_ROOT / t).is_file())
    assert missing == [], f"README links to missing files: {missing}"


def readme_model_table():
    """The README's model table: one dict per row, keyed by the table's own
    column names (``model``, ``module``, ``size``, ``mode``, ``files``, ``hash``)."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("| model | module | input size")
    lines = text[start:].split("\n\n", 1)[0].splitlines()[2:]  # without the header and |---|
    keys = ("model", "module", "size", "mode", "files", "hash")
    rows = [
        dict(zip(keys, (cell.strip() for cell in line.strip().strip("|").split("|"))))
        for line in lines
    ]
    for row in rows:
        row["module"] = re.match(r"`keras_applications_bn\.(\w+)`", row["module"]).group(1)
    return rows


def test_readme_model_table_states_the_registry():
    """The README's model table says what the registry's model and file tables say:
    one row per module, naming its first model; the default input sizes (one per
    model, or one for all), then the sizes with official files, then the minimum
    side in parentheses; the preprocessing mode; the widths (``alpha``) and the
    number of official files, and whether their hashes are pinned."""
    rows = readme_model_table()
    assert [row["module"] for row in rows] == list(
        dict.fromkeys(m.module for m in registry.MODELS.values())
    )
    for row in rows:
        specs = registry.module_models(row["module"])
        models = [spec.model for spec in specs]
        where = row["module"]
        assert row["model"].startswith(f"`{models[0]}`"), where

        size = re.sub(r"\b(\d+)x\1\b", r"\1", row["size"])  # "224x224" -> "224"
        defaults, _, minimum = size.partition("(")
        expected = [spec.default_size for spec in specs]
        if len(set(expected)) == 1:
            expected = expected[:1]
        expected += registry.variant_values(models[0], "rows")
        assert [int(n) for n in re.findall(r"\d+", defaults)] == expected, where
        assert re.match(r"\d+", minimum).group() == str(specs[0].min_size), where
        assert {spec.min_size for spec in specs} == {specs[0].min_size}, where

        mode = registry.module_preprocessing(row["module"])
        assert row["mode"].startswith("inside the model" if mode == "in-model" else f"`{mode}`"), (
            where
        )

        files = [entry for entry in registry.REGISTRY.values() if entry.model in models]
        alphas = {float(a) for m in models for a in registry.variant_values(m, "alpha")}
        assert {float(a) for a in re.findall(r"\b\d+\.\d+\b", row["files"])} == alphas, where
        count = re.search(r"(\d+) files", row["files"])
        assert count is None or int(count.group(1)) == len(files), where
        pinned = {entry.file_hash is not None for entry in files}
        assert pinned == {not row["hash"].startswith("no")}, where
