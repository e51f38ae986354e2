import re
import shutil
import time
from io import StringIO

import pytest
from django.core.management import call_command

from casestudies import diagrams
from casestudies.models import CaseStudy
from casestudies.rendering import render_markdown
from tests.conftest import require_service
from tests.factories import CaseStudyFactory
from tests.test_admin import CHANGELIST, study_form


@pytest.fixture
def dot():
    require_service(
        shutil.which(diagrams.DOT_BINARY), "Graphviz's `dot` is not installed (apt install graphviz)"
    )


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    monkeypatch.setattr(diagrams, "DOT_BINARY", str(tmp_path / "no-such-dot"))


@pytest.fixture
def slow_dot(monkeypatch, tmp_path):
    """A `dot` that never answers in time."""
    script = tmp_path / "dot"
    script.write_text("#!/bin/sh\nexec sleep 5\n")
    script.chmod(0o755)
    monkeypatch.setattr(diagrams, "DOT_BINARY", str(script))


def dot_block(source):
    return f"```dot\n{source}\n```\n"


def test_a_dot_block_becomes_an_inline_diagram_named_by_its_caption(dot):
    rendered = render_markdown(dot_block("// caption: Orders flow to the ledger\ndigraph { web -> ledger }"))
    html = rendered.html
    assert re.search(r'<figure class="diagram">\s*<svg [^>]*role="img"', html)
    assert 'aria-labelledby="diagram-1-caption"' in html
    assert "<title>Orders flow to the ledger</title>" in html
    assert '<figcaption id="diagram-1-caption">Orders flow to the ledger</figcaption>' in html
    assert ">ledger</text>" in html
    assert "<pre" not in html
    assert rendered.problems == ()


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("digraph Pipeline { a -> b }", "Pipeline"),
        ("digraph { a -> b }", "Diagram"),
        ("// a comment, not a caption\ngraph { a -- b }", "Diagram"),
    ],
)
def test_without_a_caption_the_graph_name_or_diagram_names_it(dot, source, name):
    assert (
        f'<figcaption id="diagram-1-caption">{name}</figcaption>' in render_markdown(dot_block(source)).html
    )


def test_a_caption_is_text_not_markup(dot):
    html = render_markdown(dot_block("// caption: <b onclick=x()>A & B</b>\ndigraph { a }")).html
    assert '<figcaption id="diagram-1-caption">&lt;b onclick=x()&gt;A &amp; B&lt;/b&gt;</figcaption>' in html


@pytest.mark.parametrize(
    "attributes",
    [
        'URL="javascript:alert(1)"',
        'href="javascript:alert(1)"',
        'href="https://evil.example/" target="_blank"',
        'tooltip="<script>alert(1)</script>"',
        'label="</svg><script>alert(1)</script>"',
        'label=<<B>x</B>>, URL="javascript:alert(1)"',
        'id="main-content", class="skip-link"',
        'image="/etc/hostname"',
        'style=filled, fillcolor="url(javascript:alert(1))"',
    ],
)
def test_hostile_dot_yields_no_script_link_or_handler(dot, attributes):
    source = (
        f'digraph {{ stylesheet="javascript:alert(1)"; comment="--><script>x</script>"; '
        f"a [{attributes}]; a -> b [{attributes}] }}"
    )
    html = render_markdown(dot_block(source)).html.lower()
    assert "<svg" in html
    assert "<script" not in html
    assert "javascript:" not in html
    assert "href" not in html
    assert "<a " not in html
    assert "<image" not in html
    assert "style=" not in html
    assert "main-content" not in html
    assert not re.search(r"\son\w+=", html)


def test_graphviz_colours_and_fonts_are_left_to_the_stylesheet(dot):
    source = (
        'digraph { bgcolor=pink; a [style=filled, fillcolor=yellow, fontcolor=red, fontname="Comic Sans"] }'
    )
    html = render_markdown(dot_block(source)).html
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "font-family" not in svg
    assert not re.search(r'(fill|stroke)="(?!none|currentColor)', svg)


def test_invalid_dot_is_shown_as_code_and_reported(dot):
    rendered = render_markdown("Before.\n\n" + dot_block("digraph {\n  a -> b\n  c -> -> d\n}"))
    assert "<svg" not in rendered.html
    assert '<div class="highlight">' in rendered.html
    assert "digraph" in rendered.html
    assert rendered.problems == ("Diagram 1 could not be drawn: syntax error in line 3 near '->'",)


def test_without_graphviz_a_diagram_is_shown_as_code_and_reported(no_dot):
    rendered = render_markdown(dot_block("digraph { a -> b }"))
    assert "<svg" not in rendered.html
    assert '<div class="highlight">' in rendered.html
    assert rendered.problems == (
        "Diagram 1 could not be drawn: Graphviz (the `dot` program) is not installed on the server.",
    )


def test_a_diagram_that_takes_too_long_is_shown_as_code_and_reported(monkeypatch, slow_dot):
    monkeypatch.setattr(diagrams, "TIMEOUT_SECONDS", 0.2)
    rendered = render_markdown(dot_block("digraph { a -> b }"))
    assert '<div class="highlight">' in rendered.html
    assert rendered.problems == (
        "Diagram 1 could not be drawn: Graphviz ran out of time (0.2 seconds for all of a study's diagrams).",
    )


def test_diagrams_share_one_time_limit_so_a_save_stays_quick(monkeypatch, slow_dot):
    monkeypatch.setattr(diagrams, "TIMEOUT_SECONDS", 0.3)
    started = time.monotonic()
    rendered = render_markdown(dot_block("digraph { a }") * 3)
    assert time.monotonic() - started < 2
    assert len(rendered.problems) == 3


def test_problems_are_numbered_by_the_diagrams_position(dot):
    rendered = render_markdown(dot_block("digraph { a }") + "\n" + dot_block("digraph { -> }"))
    assert rendered.html.count("<svg") == 1
    assert [problem.split(":")[0] for problem in rendered.problems] == ["Diagram 2 could not be drawn"]


def test_other_code_blocks_are_still_highlighted(dot):
    html = render_markdown(dot_block("digraph { a }") + "\n```python\ndef greet():\n    pass\n```\n").html
    assert "<svg" in html
    assert '<span class="k">def</span>' in html


def test_a_dot_block_shown_inside_a_longer_fence_stays_code(dot):
    html = render_markdown("````markdown\n" + dot_block("digraph { a }") + "````\n").html
    assert "<svg" not in html
    assert "digraph" in html


def test_text_that_looks_like_a_placeholder_stays_text(dot):
    html = render_markdown("diagram0n1\n\n" + dot_block("digraph { a }") + "\ndiagram0n1").html
    assert html.count("<svg") == 1
    assert html.count("<p>diagram0n1</p>") == 2


@pytest.mark.django_db
def test_the_financeai_seed_study_draws_its_data_flow(dot):
    call_command("import_studies", stdout=StringIO())
    study = CaseStudy.objects.get(slug="financeai")
    data_flow = study.body_html.split('id="data-flow"')[1].split('id="failure-modes"')[0]
    assert '<figure class="diagram">' in data_flow
    assert ">Machine learning</text>" in data_flow


@pytest.mark.django_db
def test_saving_keeps_render_problems_on_the_study(no_dot):
    study = CaseStudyFactory(body=dot_block("digraph { a -> b }"))
    assert study.render_problems == [
        "Diagram 1 could not be drawn: Graphviz (the `dot` program) is not installed on the server."
    ]
    assert '<div class="highlight">' in CaseStudy.objects.get(pk=study.pk).body_html


@pytest.mark.django_db
def test_the_admin_saves_a_study_whose_diagram_cannot_be_drawn(superuser_client, no_dot):
    response = superuser_client.post(CHANGELIST + "add/", study_form(body=dot_block("digraph { a -> b }")))
    assert response.status_code == 302
    assert "digraph" in CaseStudy.objects.get(slug="a-new-study").body_html


def test_the_admin_shows_a_diagram_problem_as_an_error_and_keeps_the_study(superuser_client):
    from casestudies.models import CaseStudy
    from tests.test_admin import CHANGELIST, study_form

    body = "```dot\ndigraph { a -> }\n```\n"
    response = superuser_client.post(CHANGELIST + "add/", study_form(body=body), follow=True)
    errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert errors
    assert "could not be drawn" in errors[0]
    assert CaseStudy.objects.filter(slug="a-new-study").exists()
