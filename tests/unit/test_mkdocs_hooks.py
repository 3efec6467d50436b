"""The docs site's hook (provider/tools/mkdocs_hooks.py): includes, and the links inside them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mkdocs_hooks", REPO / "provider" / "tools" / "mkdocs_hooks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def site(tmp_path: Path) -> tuple[ModuleType, dict[str, Any]]:
    """A repository with docs/api/thing.md including src/thing.md, beside src/code.py."""
    (tmp_path / "docs" / "api").mkdir(parents=True)
    (tmp_path / "docs" / "guide.md").write_text("# Guide\n")
    (tmp_path / "docs" / "api" / "thing.md").write_text('--8<-- "src/thing.md" shift=1\n')
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "code.py").write_text("")
    (tmp_path / "src" / "other.md").write_text("# Other\n")
    (tmp_path / "docs" / "other.md").write_text('--8<-- "src/other.md"\n')
    config = {
        "docs_dir": str(tmp_path / "docs"),
        "config_file_path": str(tmp_path / "mkdocs.yml"),
        "repo_url": None,
    }
    hooks = load_hooks()
    hooks.on_config(config)
    return hooks, config


def render(hooks: ModuleType, config: dict[str, Any], page: str, included_text: str) -> str:
    (Path(config["docs_dir"]).parent / "src" / "thing.md").write_text(included_text)
    markdown = (Path(config["docs_dir"]) / page).read_text()
    page_obj = SimpleNamespace(file=SimpleNamespace(src_uri=page))
    result: str = hooks.on_page_markdown(markdown, page_obj, config, None)
    return result


def test_an_included_file_lands_with_its_links_made_right_for_the_page(
    site: tuple[ModuleType, dict[str, Any]],
) -> None:
    hooks, config = site
    text = (
        "# Thing\n"
        "See [other](other.md#part), [code](code.py), [`code.py`](code.py), "
        "[guide](../docs/guide.md) and [web](https://example.com).\n"
        "`[not a link](nowhere.md)`\n"
        "```\n[also not](nowhere.md)\n# not a heading\n```\n"
    )
    out = render(hooks, config, "api/thing.md", text)
    assert out.startswith("## Thing\n")  # shift=1
    assert "[other](../other.md#part)" in out  # an included file: the page that includes it
    assert "code (`src/code.py`)" in out  # code: its path, the site has no copy
    assert "`src/code.py`, [guide]" in out
    assert "[guide](../guide.md)" in out  # a docs page: a link to it
    assert "[web](https://example.com)" in out
    assert "`[not a link](nowhere.md)`" in out  # inline code and fences are left alone
    assert "[also not](nowhere.md)\n# not a heading\n" in out


def test_a_link_to_nothing_fails_the_build(site: tuple[ModuleType, dict[str, Any]]) -> None:
    hooks, config = site
    with pytest.raises(Exception, match=r"src/thing.md: the link gone.md names src/gone.md"):
        render(hooks, config, "api/thing.md", "[gone](gone.md)\n")


def test_an_include_of_a_missing_file_fails_the_build(
    site: tuple[ModuleType, dict[str, Any]],
) -> None:
    hooks, config = site
    page = SimpleNamespace(file=SimpleNamespace(src_uri="guide.md"))
    with pytest.raises(Exception, match=r"--8<-- names src/missing.md"):
        hooks.on_page_markdown('--8<-- "src/missing.md"\n', page, config, None)
