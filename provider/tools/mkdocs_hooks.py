"""MkDocs hooks for the docs site (mkdocs.yml): pages that include files kept beside the code.

A page under docs/ may hold a line ``--8<-- "provider/gemini_tuning/resources/tuning_job.md"``
(the pymdownx.snippets spelling; `` shift=N`` after it moves the file's headings N levels down,
so that its title sits under the page's): the hook puts that file's text there, so each text has one
copy, beside the code it describes, and the site shows it. Doing the include here rather than in
pymdownx.snippets lets the hook fix the relative links inside it: a link is resolved against the
file it is written in (the included file, or the page), so the same Markdown works when read on
the repository's web view and in the site. A link that resolves to

- a page under docs/: stays a link to that page;
- a file some page includes: becomes a link to that page;
- any other file of the repository (code, a README nobody includes): becomes its path in code
  (the site has no copy of it); with ``repo_url`` set in mkdocs.yml, a link to it there;
- nothing: the build fails (``--strict``), naming the file and the link.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"(?: shift=(?P<shift>[1-5]))?[ \t]*$', re.M)
HEADING = re.compile(r"^#{1,5} ")
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#|/)", re.I)

_included: dict[str, str] = {}  # repository path of an included file -> the docs page (src uri)


def on_config(config: Any) -> Any:
    """Map every included file to the page that includes it, before any page is rendered."""
    _included.clear()
    docs = Path(config["docs_dir"])
    for page in sorted(docs.rglob("*.md")):
        for match in INCLUDE.finditer(page.read_text(encoding="utf-8")):
            _included.setdefault(match["path"], page.relative_to(docs).as_posix())
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Expand the includes of a page and fix the relative links of its text and theirs."""
    root = Path(config["config_file_path"]).parent
    docs_prefix = Path(config["docs_dir"]).relative_to(root).as_posix()
    page_path = f"{docs_prefix}/{page.file.src_uri}"
    context = _Context(root, docs_prefix, page_path, config.get("repo_url"))
    parts: list[str] = []
    last = 0
    for match in INCLUDE.finditer(markdown):
        parts.append(context.rewrite(markdown[last : match.start()], page_path))
        included = root / match["path"]
        if not included.is_file():
            raise PluginError(f"{page_path}: --8<-- names {match['path']}, which does not exist")
        text = context.rewrite(included.read_text(encoding="utf-8"), match["path"])
        parts.append(_shift_headings(text, int(match["shift"] or 0)))
        last = match.end()
    parts.append(context.rewrite(markdown[last:], page_path))
    return "".join(parts)


def _shift_headings(text: str, levels: int) -> str:
    """The text with each Markdown heading outside code ``levels`` deeper (``#`` -> ``##``)."""
    if not levels:
        return text
    out: list[str] = []
    in_fence = False
    for line in text.splitlines(keepends=True):
        if FENCE.match(line):
            in_fence = not in_fence
        out.append("#" * levels + line if not in_fence and HEADING.match(line) else line)
    return "".join(out)


class _Context:
    def __init__(self, root: Path, docs_prefix: str, page_path: str, repo_url: str | None) -> None:
        self.root = root
        self.docs_prefix = docs_prefix
        self.page_dir = posixpath.dirname(page_path)
        self.repo_url = repo_url.rstrip("/") if repo_url else None

    def rewrite(self, text: str, written_in: str) -> str:
        """The text with each relative link outside code made right for the page."""
        out: list[str] = []
        in_fence = False
        for line in text.splitlines(keepends=True):
            if FENCE.match(line):
                in_fence = not in_fence
            if in_fence or FENCE.match(line):
                out.append(line)
                continue
            out.append(self._rewrite_line(line, written_in))
        return "".join(out)

    def _rewrite_line(self, line: str, written_in: str) -> str:
        code = [m.span() for m in CODE_SPAN.finditer(line)]

        def replace(link: re.Match[str]) -> str:
            if any(start <= link.start() < end for start, end in code):
                return link[0]  # written inside inline code: no link
            return self._link(link, written_in)

        return LINK.sub(replace, line)

    def _link(self, match: re.Match[str], written_in: str) -> str:
        target = match["target"]
        if EXTERNAL.match(target):
            return match[0]
        path, _, anchor = target.partition("#")
        anchor = f"#{anchor}" if anchor else ""
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(written_in), path))
        page = None
        if resolved.startswith(f"{self.docs_prefix}/"):
            page = resolved
        elif resolved in _included:
            page = f"{self.docs_prefix}/{_included[resolved]}"
        if page is not None:
            if not (self.root / page).is_file():
                raise PluginError(f"{written_in}: the link {target} names {page}: no such page")
            href = posixpath.relpath(page, self.page_dir) + anchor
            return f"{match['bang']}[{match['text']}]({href})"
        if not (self.root / resolved).exists():
            raise PluginError(f"{written_in}: the link {target} names {resolved}: no such file")
        if self.repo_url:
            return f"{match['bang']}[{match['text']}]({self.repo_url}/blob/main/{resolved})"
        text = match["text"].strip("`")
        if text in (resolved, posixpath.basename(resolved)):
            return f"`{resolved}`"
        return f"{match['text']} (`{resolved}`)"
