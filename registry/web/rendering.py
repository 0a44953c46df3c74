"""README text to safe HTML: markdown-it-py renders CommonMark (tables and strikethrough too),
nh3 (the Ammonia sanitiser) keeps only harmless tags, attributes and URL schemes.

A README is written by whoever pushed the package and read by everyone who may see it, so its
HTML is never trusted: raw HTML in the Markdown is allowed through the renderer only because
the sanitiser removes scripts, event handlers, styles and `javascript:` URLs afterwards.
"""

from __future__ import annotations

import html

import nh3
from markdown_it import MarkdownIt

URL_SCHEMES = {"http", "https", "mailto"}
# README headings sit under the page's own <h1> (the package) and <h2> ("README").
HEADING_SHIFT = 2
MARKDOWN_EXTENSIONS = {"", "md", "markdown", "mdown", "mkd"}

_markdown = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _shift_headings(tokens) -> None:
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + HEADING_SHIFT, 6)}"


def markdown_to_html(text: str) -> str:
    tokens = _markdown.parse(text)
    _shift_headings(tokens)
    rendered = _markdown.renderer.render(tokens, _markdown.options, {})
    return sanitise(rendered)


def sanitise(fragment: str) -> str:
    return nh3.clean(fragment, url_schemes=URL_SCHEMES, link_rel="noopener noreferrer nofollow")


def readme_to_html(text: str, extension: str | None) -> str:
    """Markdown for `.md` (and extension-less) READMEs; any other text is shown as it is."""
    if (extension or "").lower().lstrip(".") in MARKDOWN_EXTENSIONS:
        return markdown_to_html(text)
    return f"<pre>{html.escape(text)}</pre>"
