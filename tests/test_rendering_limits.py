"""Rendering never raises anything but a refusal and never runs long: a body nested deeper than
MAX_NESTING, or too slow to render, is refused with a reason, and the study is not saved."""

import shutil
from io import StringIO
from pathlib import Path

import markdown
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from casestudies import diagrams, rendering
from casestudies.models import CaseStudy
from casestudies.rendering import MAX_NESTING, BodyRefused, render_markdown
from tests.conftest import require_service
from tests.test_admin import study_form

PREVIEW_URL = "/admin/casestudies/casestudy/preview/"
ADD_URL = "/admin/casestudies/casestudy/add/"
SEED = Path(__file__).resolve().parents[1] / "casestudies" / "seed"

HOSTILE = {
    "list markers on one line": ("- " * 500 + "a", "500 levels deep"),
    "nested brackets": ("[" * 20000 + "a" + "]" * 20000, "20000 square brackets"),
    "link addresses left open": ("[a](" * 20000, "20000 link addresses"),
    "quotes on one line": ("> " * 5000 + "a", "5000 levels deep"),
    "indented lists": ("\n".join("    " * level + "- a" for level in range(1000)), "levels deep"),
}
# Past the scan: Markdown's own recursion gives out, and that too is a refusal, not a 500.
TOO_DEEP_FOR_MARKDOWN = {
    "emphasis inside emphasis": ("**a " * 1000 + "b" + " a**" * 1000, "nested too deeply")
}
UNDER_THE_LIMIT = {
    "list markers on one line": "- " * MAX_NESTING + "a",
    "quotes on one line": "> " * MAX_NESTING + "a",
    "indented lists": "\n".join("    " * level + "- a" for level in range(MAX_NESTING)),
    "nested brackets": "[" * MAX_NESTING + "a" + "]" * MAX_NESTING,
    "links in links": "[" * MAX_NESTING + "a" + "](b)" * MAX_NESTING,
}


def seed_bodies():
    bodies = []
    for path in sorted(SEED.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        bodies.append(text.split("\n---\n", 1)[1])
    return bodies


@pytest.mark.parametrize(("body", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_bodies_are_refused_before_markdown_runs(monkeypatch, body, reason):
    # Refused by the linear scan, so in milliseconds whatever Markdown would have made of them.
    monkeypatch.setattr(markdown.Markdown, "convert", lambda *args: pytest.fail("Markdown ran"))
    with pytest.raises(BodyRefused, match=reason):
        render_markdown(body)


@pytest.mark.parametrize(("body", "reason"), TOO_DEEP_FOR_MARKDOWN.values(), ids=TOO_DEEP_FOR_MARKDOWN.keys())
def test_nesting_the_scan_does_not_count_is_refused_too(body, reason):
    with pytest.raises(BodyRefused, match=reason):
        render_markdown(body)


@pytest.mark.parametrize("body", UNDER_THE_LIMIT.values(), ids=UNDER_THE_LIMIT.keys())
def test_nesting_up_to_the_limit_renders(body):
    assert render_markdown(body).html


def test_brackets_in_fenced_code_and_escaped_ones_do_not_count():
    code = "```lisp\n" + "(" * 100 + "[" * 100 + "\n```\n"
    assert "[[[" in render_markdown(code + "\\[" * 100).html


SECTION = """## Section {n}

Prose with *emphasis*, **strong**, `code`, a [link](https://example.com/{n} "Title") and a
footnote.[^{n}] (An aside [with brackets] inside parentheses.)

- A list item
    - nested once
        - nested twice, with a [reference][ref]
1. Numbered

> A quote
> > inside a quote

| Metric | Before | After |
|:--|--:|--:|
| p99 | 120 ms | 40 ms |

```python
def handler(event):
    return {{"status": [200, (1, 2)]}}
```

[^{n}]: The source of section {n}.

"""


def test_a_long_normal_body_passes_the_nesting_scan_and_renders(monkeypatch):
    # How long it takes is the machine's business (its figure is in the note); here, a slow
    # machine must not make the test fail.
    monkeypatch.setattr(rendering, "RENDER_SECONDS", 600)
    body = "".join(SECTION.format(n=n) for n in range(200)) + "[ref]: https://example.com/ref\n"
    assert len(body) > 90_000
    rendering.check_nesting(body)
    assert render_markdown(body).html.count("<h2") == 200


def test_every_seed_body_renders():
    for body in seed_bodies():
        assert render_markdown(body).html


def test_a_body_over_the_time_budget_is_refused(monkeypatch):
    monkeypatch.setattr(rendering, "RENDER_SECONDS", 0)
    with pytest.raises(BodyRefused, match="seconds to render"):
        render_markdown("One.\n\nTwo.\n\nThree.")


def test_raw_html_around_a_diagram_is_dropped_and_the_diagram_drawn_alone():
    require_service(shutil.which(diagrams.DOT_BINARY), "Graphviz's `dot` is not installed")
    block = "```dot\ndigraph { a -> b }\n```\n"
    for wrapped in [f'<div title="\n{block}">', f"<div>\n{block}</div>\n\nAfter."]:
        html = render_markdown(wrapped).html
        assert html.startswith('<figure class="diagram">')
        assert "<div" not in html
        assert "title=" not in html
    assert html.endswith("</figure>\n<p>After.</p>")


def test_a_commented_out_diagram_stays_out():
    assert render_markdown("<!--\n```dot\ndigraph { a }\n```\n-->\nAfter.").html.strip() == "<p>After.</p>"


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "reason"), list(HOSTILE.values())[:3], ids=list(HOSTILE)[:3])
def test_the_admin_form_refuses_the_body_and_saves_nothing(superuser_client, body, reason):
    response = superuser_client.post(ADD_URL, study_form(body=body))
    assert response.status_code == 200
    assert reason in response.context["adminform"].form.errors["body"][0]
    assert not CaseStudy.objects.exists()


@pytest.mark.django_db
def test_validating_a_study_renders_it_once_for_its_save(monkeypatch):
    rendered = []
    monkeypatch.setattr("casestudies.models.render_markdown", lambda *args: rendered.append(args) or
                        render_markdown(*args))  # fmt: skip
    study = CaseStudy(title="T", slug="t", summary="S", body="## Hello")
    study.full_clean()
    study.save()
    assert len(rendered) == 1
    assert "Hello" in study.body_html
    study.save()  # a later save renders again: the study's images may have changed
    assert len(rendered) == 2


@pytest.mark.parametrize(("body", "reason"), list(HOSTILE.values())[:3], ids=list(HOSTILE)[:3])
def test_the_live_preview_answers_with_the_reason(staff_client, body, reason):
    response = staff_client.post(PREVIEW_URL, {"body": body})
    assert response.status_code == 422
    assert reason in response.json()["error"]


@pytest.mark.django_db
def test_import_refuses_that_file_and_imports_the_others(tmp_path):
    for name, slug, body in [("a.md", "alpha", "Fine."), ("b.md", "bravo", "- " * 500 + "a")]:
        (tmp_path / name).write_text(
            f"---\ntitle: {slug}\nslug: {slug}\nsummary: A summary.\n"
            f"published_at: 2024-01-01T00:00:00Z\n---\n{body}\n",
            encoding="utf-8",
        )
    (tmp_path / "c.md").write_text((tmp_path / "a.md").read_text().replace("alpha", "charlie"))
    with pytest.raises(CommandError, match="1 file"):
        call_command("import_studies", str(tmp_path), stdout=StringIO(), stderr=StringIO())
    assert sorted(CaseStudy.objects.values_list("slug", flat=True)) == ["alpha", "charlie"]


@pytest.fixture
def renders_in_transaction(monkeypatch):
    """For each Markdown conversion from here on, whether a transaction was open. On SQLite one
    holds the write lock from its start: Markdown and Graphviz working inside it would keep every
    other save waiting."""
    in_transaction = []
    convert = markdown.Markdown.convert

    def recording(self, source):
        in_transaction.append(connection.in_atomic_block)
        return convert(self, source)

    monkeypatch.setattr(markdown.Markdown, "convert", recording)
    return in_transaction


@pytest.mark.django_db(transaction=True)
def test_the_admin_renders_a_body_before_its_transaction_takes_the_write_lock(
    superuser_client, renders_in_transaction
):
    in_transaction = renders_in_transaction
    response = superuser_client.post(ADD_URL, study_form(body="## Context\r\n\r\nWords."))
    assert response.status_code == 302
    study = CaseStudy.objects.get()
    assert "<h2" in study.body_html
    in_transaction.clear()
    form = study_form(body="## Context\r\n\r\nOther words.")
    response = superuser_client.post(f"/admin/casestudies/casestudy/{study.pk}/change/", form)
    assert response.status_code == 302
    assert in_transaction == [False]
    study.refresh_from_db()
    assert "Other words." in study.body_html


@pytest.mark.django_db(transaction=True)
def test_import_renders_each_body_before_its_transaction(tmp_path, renders_in_transaction):
    in_transaction = renders_in_transaction
    for slug in ("one", "two"):
        (tmp_path / f"{slug}.md").write_text(
            f"---\ntitle: {slug}\nslug: {slug}\nsummary: About {slug}.\nstatus: draft\n"
            f"published_at: 2024-01-01T00:00:00Z\n---\n## {slug}\n\nWords.\n"
        )
    call_command("import_studies", str(tmp_path), stdout=StringIO(), stderr=StringIO())
    assert CaseStudy.objects.count() == 2
    assert in_transaction
    assert not any(in_transaction)
