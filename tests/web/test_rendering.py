"""README rendering: Markdown to HTML that keeps formatting and drops anything that could run."""

import pytest

from registry.web.rendering import markdown_to_html, readme_to_html


def test_markdown_is_rendered_with_tables_and_shifted_headings():
    rendered = markdown_to_html("# Title\n\n## Part\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ `code`\n")
    assert "<h3>Title</h3>" in rendered and "<h4>Part</h4>" in rendered
    assert "<table>" in rendered and "<td>1</td>" in rendered
    assert "<s>old</s>" in rendered and "<code>code</code>" in rendered


@pytest.mark.parametrize("source,kept,dropped", [
    ("<script>alert(1)</script>x", "x", "<script"),
    ('<img src="a.png" onerror="alert(1)">', '<img src="a.png">', "onerror"),
    ('<a href="javascript:alert(1)">a</a>', ">a</a>", "javascript:"),
    ('<a href="JaVaScRiPt:alert(1)">a</a>', ">a</a>", "alert"),
    ('<a href="data:text/html,<script>alert(1)</script>">a</a>', ">a</a>", "data:"),
    ('<svg><script>alert(1)</script></svg>', "", "<svg"),
    ('<p style="color:red" class="x" id="y">p</p>', "<p>p</p>", "style"),
    ('<form action="/logout"><button>b</button></form>', "b", "<form"),
    ('<iframe src="https://example.org"></iframe>', "", "<iframe"),
    ("[x](https://example.org)", '<a href="https://example.org" rel="noopener noreferrer nofollow">x</a>', "target"),
])
def test_nothing_that_runs_survives(source, kept, dropped):
    rendered = markdown_to_html(source)
    assert kept in rendered and dropped not in rendered.lower()


def test_other_text_is_shown_verbatim():
    assert readme_to_html("<b>x</b>\n  y", "txt") == "<pre>&lt;b&gt;x&lt;/b&gt;\n  y</pre>"
    assert readme_to_html("**x**", "MD") == "<p><strong>x</strong></p>\n"
    assert readme_to_html("**x**", None) == "<p><strong>x</strong></p>\n"
