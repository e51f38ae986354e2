"""Search: what a query finds, in what order, and how matches are marked.

The same tests run on SQLite (FTS5) and on PostgreSQL (tsvector): the suite runs on each.
"""

import datetime
from io import StringIO

import pytest
import reversion
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import Count, Window
from django.utils import timezone
from django.utils.safestring import SafeString
from reversion.models import Version

from casestudies.models import CaseStudy, SearchDocument, Tag
from casestudies.search import backend, highlight, search
from tests.factories import CaseStudyFactory, draft, scheduled
from tests.test_admin import CHANGELIST, study_form

pytestmark = pytest.mark.django_db

# A body of a realistic length: long documents must not lose to short ones on length alone.
FILLER = "\n\n".join(
    f"## Part {n}\n\nWe measured the service under load, changed one thing at a time and "
    "wrote down what happened, so that the next person would not have to guess."
    for n in range(12)
)


class StudyFactory(CaseStudyFactory):
    summary = "A plain summary."


def found(query, studies=None):
    studies = CaseStudy.objects.published() if studies is None else studies
    return [study.title for study in search(studies, query)]


def days_ago(days):
    return timezone.now() - datetime.timedelta(days=days)


# What it finds


@pytest.mark.parametrize(
    "where",
    [
        {"title": "Kubernetes at scale"},
        {"tags": ["Kubernetes"]},
        {"summary": "How we moved forty services to Kubernetes."},
        {"body": "## The move\n\nWe moved forty services to **Kubernetes** in a week."},
    ],
    ids=["title", "tags", "summary", "body"],
)
def test_search_finds_a_word_in_the_title_tags_summary_or_body(where):
    StudyFactory(title="Unrelated")
    study = StudyFactory(**{"title": "The study", **where})
    assert found("kubernetes") == [study.title]
    assert found("KUBERNETES") == [study.title]


def test_every_word_of_the_query_must_match():
    StudyFactory(title="Kubernetes migration")
    StudyFactory(title="Kubernetes costs")
    assert found("kubernetes migration") == ["Kubernetes migration"]


def test_words_are_found_in_their_other_forms():
    StudyFactory(title="Caching at the edge")
    assert found("cached") == found("caches") == found("cache") == ["Caching at the edge"]


def test_a_word_is_not_found_by_its_start():
    StudyFactory(title="Kubernetes at scale")
    StudyFactory(title="Open source ops")
    assert found("kubernetes") == ["Kubernetes at scale"]
    assert found("kube") == []
    assert found("ops") == ["Open source ops"]


def test_stop_words_are_left_out_of_the_query():
    StudyFactory(title="The cost of Kubernetes")
    assert found("the kubernetes of") == ["The cost of Kubernetes"]


def test_the_body_is_searched_as_text_without_its_markup():
    StudyFactory(
        title="Markup",
        body="A **bold** move, R&D costs[^1] and code:\n\n```python\nimport asyncio\n```\n\n[^1]: Mostly.",
    )
    assert found("bold") == found("asyncio") == found("costs") == ["Markup"]
    for markup in ["strong", "amp", "span", "class", "sup", "fnref"]:
        assert found(markup) == [], markup


@pytest.mark.parametrize(
    ("title", "query"), [("Un café à Paris", "CAFÉ"), ("日本語 guide", "日本語"), ("Straße", "straße")]
)
def test_search_finds_words_in_any_script(title, query):
    StudyFactory(title=title)
    StudyFactory(title="Cafe in Berlin")
    assert found(query) == [title]


def test_drafts_and_future_studies_are_never_found():
    StudyFactory(title="Kubernetes now")
    draft(title="Kubernetes draft")
    scheduled(title="Kubernetes later")
    assert found("kubernetes") == ["Kubernetes now"]


# In what order


def test_title_and_tags_outrank_the_summary_which_outranks_the_body():
    # Newest first would be the reverse order; the short body says it three times.
    StudyFactory(title="In the title: Replication", body=FILLER, published_at=days_ago(4))
    StudyFactory(title="In the tags", tags=["Replication"], body=FILLER, published_at=days_ago(3))
    StudyFactory(
        title="In the summary", summary="Replication, simply.", body=FILLER, published_at=days_ago(2)
    )
    StudyFactory(
        title="In the body", body="Replication, replication and more replication.", published_at=days_ago(1)
    )
    results = found("replication")
    assert sorted(results[:2]) == ["In the tags", "In the title: Replication"]
    assert results[2:] == ["In the summary", "In the body"]


def test_studies_that_match_alike_keep_the_usual_order():
    alike = {"summary": "Nothing to see.", "body": "Nothing either."}
    StudyFactory(title="Bravo replication", published_at=days_ago(2), **alike)
    StudyFactory(title="Alpha replication", published_at=days_ago(2), **alike)
    StudyFactory(title="Delta replication", published_at=days_ago(1), **alike)
    assert found("replication") == ["Delta replication", "Alpha replication", "Bravo replication"]


def test_each_study_carries_its_rank_best_first():
    StudyFactory(title="Replication", body=FILLER)
    StudyFactory(title="Other", summary="On replication.")
    ranks = [study.search_rank for study in search(CaseStudy.objects.published(), "replication")]
    assert ranks == sorted(ranks, reverse=True)
    assert ranks[0] > ranks[1] > 0


# With the rest of the list


def test_search_combines_with_tag_filters_either_side():
    StudyFactory(title="Caching at the edge", tags=["CDN"])
    StudyFactory(title="Caching in the database", tags=["Postgres"])
    published = CaseStudy.objects.published()
    assert found("caching", published.tagged_with_all(["cdn"])) == ["Caching at the edge"]
    assert [s.title for s in search(published, "caching").tagged_with_all(["postgres"])] == [
        "Caching in the database"
    ]


def test_search_results_paginate_with_the_right_count():
    for n in range(15):
        StudyFactory(title=f"Kubernetes {n:02}", summary="Alike.", published_at=days_ago(n + 1))
    StudyFactory.create_batch(3)
    paginator = Paginator(search(CaseStudy.objects.published().with_tags(), "kubernetes"), 12)
    assert paginator.count == 15
    assert paginator.num_pages == 2
    assert [study.title for study in paginator.page(2)] == ["Kubernetes 12", "Kubernetes 13", "Kubernetes 14"]


def test_search_works_beside_a_window_count_and_inside_a_subquery():
    StudyFactory(title="Kubernetes at scale", tags=["Ops"])
    StudyFactory(title="Kubernetes costs", tags=["Money"])
    StudyFactory(title="Other", tags=["Elsewhere"])
    results = search(CaseStudy.objects.published(), "kubernetes")
    # The list view counts a page's total with a window function...
    assert [study.total for study in results.annotate(total=Window(Count("pk")))[:12]] == [2, 2]
    # ...and lists the tags of the matching studies with a subquery.
    tags = Tag.objects.filter(tagged_studies__content_object__in=results.order_by().values("pk"))
    assert sorted(tag.name for tag in tags) == ["Money", "Ops"]


@pytest.mark.parametrize("matching", [2, 20])
def test_a_page_of_results_costs_the_same_queries_however_many_match(matching, django_assert_num_queries):
    for n in range(matching):
        StudyFactory(title=f"Kubernetes {n}", tags=["Ops", "Cloud"])
    StudyFactory(title="Other", tags=["Ops"])
    # The count, the page's studies, their tags.
    with django_assert_num_queries(3):
        paginator = Paginator(search(CaseStudy.objects.published().with_tags(), "kubernetes ops"), 12)
        page = paginator.page(1)
        shown = [(study.title, [tag.name for tag in study.tag_list]) for study in page]
    assert paginator.count == matching
    assert len(shown) == min(matching, 12)
    assert shown[0][1] == ["Ops", "Cloud"]


# Hostile queries

HOSTILE_QUERIES = [
    "",
    "   ",
    "x" * 10_000,
    "kubernetes " * 1_000,
    '"',
    '"unbalanced',
    '"kubernetes"',
    "a AND OR NOT",
    "kubernetes OR",
    "NEAR(",
    "NEAR(kubernetes scale, 2)",
    "col:term",
    "title:kubernetes",
    "{title}:kubernetes",
    "-",
    "-kubernetes",
    "*",
    "kuber*",
    "^kubernetes",
    "(",
    ")",
    "& | ! <-> :* ''",
    "'",
    "\\",
    "日本語",
    "café",
    "\x00",
    "kuber\x00netes",
    "\u200b\ufeff",
    "🙂",
    "'; DROP TABLE casestudies_casestudy; --",
    "%",
    "_",
    "%_%",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_no_query_can_break_search_or_highlight(query):
    StudyFactory(title="Kubernetes at scale", summary="Café & 日本語 <b>ops</b>.", tags=["Ops"])
    results = search(CaseStudy.objects.published().with_tags(), query)
    assert results.count() == len(list(results)) <= 1
    marked = highlight("Kubernetes <b>café</b> & 日本語", query)
    assert "<b>" not in marked
    assert CaseStudy.objects.count() == 1


def test_odd_text_in_a_study_is_indexed_without_trouble():
    StudyFactory(
        title="Emoji 🙂 and 👩‍💻, RTL עברית, math x² ½",
        body=f"A {'x' * 3000} word, [a link](https://example.com/?q=1&r=2), <b>raw</b> & `code`.\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n",
    )
    assert len(found("עברית")) == 1
    assert found("link") == found("x²") == found("עברית")
    # An address is markup, not text.
    assert found("example") == []


def test_a_query_with_nothing_to_search_for_leaves_the_list_as_it_is():
    StudyFactory.create_batch(3)
    published = CaseStudy.objects.published()
    for query in ["", "  ", '"', "-", "*", "the", "\x00"]:
        assert list(search(published, query)) == list(published)


# Highlighting


def test_highlight_escapes_the_summary_and_marks_matches():
    summary = 'Faster <script>alert("caching")</script> caching & more'
    marked = highlight(summary, "caching")
    assert isinstance(marked, SafeString)
    assert marked == (
        "Faster &lt;script&gt;alert(&quot;<mark>caching</mark>&quot;)&lt;/script&gt; "
        "<mark>caching</mark> &amp; more"
    )


def test_highlight_ignores_case_and_marks_other_forms():
    assert highlight("Caches, CACHED and a cache.", "cache") == (
        "<mark>Caches</mark>, <mark>CACHED</mark> and a <mark>cache</mark>."
    )
    assert highlight("Un café à Paris", "CAFÉ") == "Un <mark>café</mark> à Paris"


def test_highlight_never_marks_inside_an_entity():
    assert highlight("R&D, amp; quot < lt", "amp quot lt") == (
        "R&amp;D, <mark>amp</mark>; <mark>quot</mark> &lt; <mark>lt</mark>"
    )


def test_highlight_leaves_stop_words_and_unsearched_text_alone():
    assert highlight("The cost of the cache", "the cache") == "The cost of the <mark>cache</mark>"
    assert highlight("A <plain> summary", "") == "A &lt;plain&gt; summary"


# The index follows every change


def test_a_changed_title_is_found_and_the_old_one_is_not():
    study = StudyFactory(title="Old name")
    study.title = "Serverless"
    study.save()
    assert found("serverless") == ["Serverless"]
    assert found("name") == []


def test_a_changed_body_is_found():
    study = StudyFactory(title="Study", body="About REST.")
    study.body = "Now about *GraphQL*."
    study.save()
    assert found("graphql") == ["Study"]
    assert found("rest") == []


def test_tags_added_and_removed_are_followed():
    study = StudyFactory(title="Study", tags=["Ops"])
    study.tags.add("Observability")
    assert found("observability") == ["Study"]
    study.tags.remove("Observability")
    assert found("observability") == []
    study.tags.set(["Tracing"])
    assert found("tracing") == ["Study"]
    assert found("ops") == []
    study.tags.clear()
    assert found("tracing") == []


def test_a_renamed_tag_is_found_by_its_new_name_only():
    StudyFactory(title="Study", tags=["Observability"])
    tag = Tag.objects.get(name="Observability")
    tag.name = "Telemetry"
    tag.save()
    assert found("telemetry") == ["Study"]
    assert found("observability") == []


def test_deleted_and_merged_tags_are_followed():
    StudyFactory(title="One", tags=["Realtime"])
    StudyFactory(title="Two", tags=["Live"])
    StudyFactory(title="Three", tags=["Legacy"])
    Tag.objects.get(name="Realtime").merge_into(Tag.objects.get(name="Live"))
    Tag.objects.get(name="Legacy").delete()
    assert found("realtime") == found("legacy") == []
    assert sorted(found("live")) == ["One", "Two"]


def test_a_restored_revision_is_found_as_it_was():
    with reversion.create_revision():
        study = StudyFactory(title="Kubernetes", tags=["Ops"])
    with reversion.create_revision():
        study.title = "Serverless"
        study.save()
        study.tags.set(["Lambda"])
    Version.objects.get_for_object(study).last().revision.revert(delete=True)
    assert found("kubernetes") == found("ops") == ["Kubernetes"]
    assert found("serverless") == found("lambda") == []


def test_a_study_added_in_the_admin_is_found_by_its_words_and_tags(superuser_client):
    form = study_form(title="Kubernetes at scale", body="Forty services.", tags="Ops, Cloud")
    assert superuser_client.post(CHANGELIST + "add/", form).status_code == 302
    assert found("kubernetes") == found("cloud") == found("services") == ["Kubernetes at scale"]


def test_a_deleted_study_leaves_nothing_in_the_index():
    study = StudyFactory(title="Kubernetes", tags=["Ops"])
    pk = study.pk
    study.delete()
    assert not SearchDocument.objects.filter(study_id=pk).exists()


def test_render_studies_rebuilds_the_index():
    StudyFactory(title="Kubernetes", tags=["Ops"])
    SearchDocument.objects.all().delete()
    assert found("kubernetes") == []
    call_command("render_studies", stdout=StringIO())
    assert found("kubernetes") == found("ops") == ["Kubernetes"]


def test_after_migrate_every_study_is_indexed_and_stray_entries_are_gone():
    study = StudyFactory(title="Kubernetes", tags=["Ops"])
    SearchDocument.objects.all().delete()
    with connection.cursor() as cursor:
        backend(connection).write(cursor, {study.pk + 1000: ("ghost", "", "")})
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    assert found("kubernetes") == ["Kubernetes"]
    assert list(SearchDocument.objects.values_list("study", flat=True)) == [study.pk]


@pytest.mark.django_db(transaction=True)
def test_the_index_changes_with_the_transaction_it_follows():
    with transaction.atomic():
        study = StudyFactory(title="Kubernetes", tags=["Ops"])
    assert found("kubernetes") == found("ops") == ["Kubernetes"]

    def edit_then_fail():
        with transaction.atomic():
            study.title = "Serverless"
            study.save()
            study.tags.add("Lambda")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        edit_then_fail()
    assert found("kubernetes") == ["Kubernetes"]
    assert found("serverless") == found("lambda") == []
