"""Every ```python block of docs/fine-tuning.md runs, in order, in one namespace."""

import re

import pytest

from conftest import REPO_ROOT, run_python


def python_blocks(path):
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


@pytest.mark.slow  # a fresh process that trains: the slow lane, with the examples
def test_fine_tuning_guide_snippets_run():
    blocks = python_blocks(REPO_ROOT / "docs" / "fine-tuning.md")
    assert len(blocks) >= 7
    script = "\n".join(f"# --- block {i}\n{block}" for i, block in enumerate(blocks))
    run_python(script + "\nprint('guide ok')", cwd=str(REPO_ROOT))
