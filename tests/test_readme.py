"""The README stays short and every docs page is reachable from the site's nav."""

import re

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
    pages = {p.relative_to(REPO_ROOT / "docs").as_posix() for p in (REPO_ROOT / "docs").rglob("*.md")}
    in_nav = nav_pages()
    assert "index.md" in in_nav and "reference/models.md" in in_nav  # the parser reads the nav
    assert pages - in_nav == set(), f"docs pages missing from mkdocs.yml's nav: {sorted(pages - in_nav)}"
    assert in_nav - pages == set(), f"nav entries without a page: {sorted(in_nav - pages)}"


def test_readme_links_to_docs_pages_exist():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    targets = {t.split("#")[0] for t in re.findall(r"\]\(((?:docs|examples)/[^)\s]+|[A-Z]+\.md)\)", text)}
    assert "docs/weights.md" in targets
    missing = sorted(t for t in targets if not (REPO_ROOT / t).is_file())
    assert missing == [], f"README links to missing files: {missing}"
