import pytest

from casestudies.rendering import reading_minutes, render_markdown


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ("<script>alert(1)</script>", "alert(1)"),
        ("[click](javascript:alert(1))", "javascript:"),
        ('<a href="javascript:alert(1)">x</a>', "javascript:"),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', "alert"),
        ('<img src="x" onerror="alert(1)">', "onerror"),
        ('<p onclick="steal()">hi</p>', "onclick"),
        ('<iframe src="https://evil.example"></iframe>', "<iframe"),
        ("<style>body{display:none}</style>", "<style"),
        ('<p style="position:fixed">x</p>', "style="),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "data:"),
        ("<object data='x.swf'></object>", "<object"),
        ('<form action="/admin/"><input name="q"></form>', "<form"),
        ("<!-- a comment -->", "<!--"),
    ],
)
def test_hostile_markup_is_removed(source, forbidden):
    assert forbidden.lower() not in render_markdown(source).html.lower()


def test_text_around_hostile_markup_is_kept():
    html = render_markdown('Before <script>x()</script> after <b onclick="y()">bold</b>').html
    assert "Before" in html
    assert "after" in html
    assert "<b>bold</b>" in html


def test_fenced_code_is_highlighted_with_classes_not_styles():
    html = render_markdown("```python\ndef greet():\n    return 'hi'\n```").html
    assert '<div class="highlight">' in html
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">greet</span>' in html
    assert "style=" not in html


def test_tables_render():
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |").html
    assert "<table>" in html
    assert '<td class="align-right">2</td>' in html
    assert "align=" not in html


def test_footnotes_render_with_working_links():
    html = render_markdown("A claim.[^1]\n\n[^1]: The source.").html
    assert 'href="#fn:1"' in html
    assert 'id="fn:1"' in html


def test_headings_get_anchors_and_a_table_of_contents():
    rendered = render_markdown("## Data flow\n\ntext\n\n### Failure modes\n\ntext")
    assert '<h2 id="data-flow">' in rendered.html
    assert 'class="heading-anchor" href="#data-flow"' in rendered.html
    assert 'href="#data-flow"' in rendered.toc_html
    assert 'href="#failure-modes"' in rendered.toc_html


def test_body_without_headings_has_no_table_of_contents():
    assert render_markdown("Just a paragraph.").toc_html == ""


def test_a_title_level_heading_in_the_body_becomes_h2():
    html = render_markdown("# Big heading").html
    assert "<h1" not in html
    assert '<h2 id="big-heading">' in html


def test_external_links_get_noopener_and_internal_ones_do_not():
    html = render_markdown("[out](https://example.com) and [in](/case-studies/) and [here](#x)").html
    assert '<a href="https://example.com" rel="noopener noreferrer">out</a>' in html
    assert '<a href="/case-studies/">in</a>' in html
    assert '<a href="#x">here</a>' in html


def test_author_rel_is_replaced_not_doubled():
    html = render_markdown('<a href="https://example.com" rel="opener">x</a>').html
    assert html.count("rel=") == 1
    assert 'rel="noopener noreferrer"' in html


def test_empty_body_renders_empty():
    assert render_markdown("").html == ""


def test_reading_time_is_at_least_a_minute():
    assert reading_minutes("") == 1
    assert reading_minutes("word " * 221) == 2
