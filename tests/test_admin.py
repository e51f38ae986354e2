import datetime

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone
from reversion.models import Version

from casestudies.models import CaseStudy, Tag
from tests.factories import CaseStudyFactory, draft

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/casestudies/casestudy/"


def study_form(**overrides):
    now = timezone.now() - datetime.timedelta(minutes=1)
    data = {
        "title": "A New Study",
        "slug": "a-new-study",
        "summary": "What this study is about.",
        "body": "## Context\r\n\r\n```python\r\nimport this\r\n```\r\n",
        "tags": "Security, Zero-Knowledge",
        "status": "published",
        "published_at_0": now.strftime("%Y-%m-%d"),
        "published_at_1": now.strftime("%H:%M:%S"),
        "repository_url": "",
        "live_url": "",
        "role": "",
        "timeframe": "",
        "team_size": "",
        "stack": "",
    }
    for inline in ["images", "outcomes", "slug_redirects"]:
        data |= {f"{inline}-TOTAL_FORMS": "0", f"{inline}-INITIAL_FORMS": "0"}
    return {**data, **overrides}


def test_changelist_shows_title_status_date_and_tags(superuser_client):
    CaseStudyFactory(title="Vault", tags=["Security", "Encryption"])
    draft(title="Work in progress")
    response = superuser_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Vault" in html
    assert "Security, Encryption" in html
    assert "Work in progress" in html
    assert "Draft" in html


@pytest.mark.parametrize(
    "query", ["?status__exact=draft", "?q=vault", "?tags__id__exact=1", "?published_at__year=2024"]
)
def test_changelist_filters_and_search_work(superuser_client, query):
    CaseStudyFactory(title="Vault", tags=["Security"])
    assert superuser_client.get(CHANGELIST + query).status_code == 200


def test_search_finds_studies_by_body(superuser_client):
    CaseStudyFactory(title="Vault", body="The threat model comes first.")
    CaseStudyFactory(title="Shop", body="Catalog and checkout.")
    html = superuser_client.get(CHANGELIST + "?q=threat").content.decode()
    assert "Vault" in html
    assert "Shop" not in html


def test_changelist_queries_do_not_grow_with_studies(superuser_client, django_assert_max_num_queries):
    CaseStudyFactory.create_batch(30, tags=["Security", "Encryption"])
    with django_assert_max_num_queries(12):
        superuser_client.get(CHANGELIST)


def test_add_page_prefills_the_slug_from_the_title(superuser_client):
    response = superuser_client.get(CHANGELIST + "add/")
    assert response.status_code == 200
    assert b"data-prepopulated-field" in response.content or b"prepopulated" in response.content
    assert b'name="body_html"' not in response.content


def test_adding_a_study_renders_its_body_and_it_appears_on_the_list(superuser_client, client):
    response = superuser_client.post(CHANGELIST + "add/", study_form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    study = CaseStudy.objects.get(slug="a-new-study")
    assert '<div class="highlight">' in study.body_html
    assert [tag.name for tag in study.tag_list] == ["Security", "Zero-Knowledge"]
    assert b"A New Study" in client.get("/case-studies/").content


def test_a_tag_typed_in_two_cases_becomes_one_tag(superuser_client):
    superuser_client.post(CHANGELIST + "add/", study_form(tags="Security, security"))
    assert Tag.objects.filter(name__iexact="security").count() == 1


def test_changing_a_study_re_renders_its_body(superuser_client):
    study = CaseStudyFactory(body="Old text")
    form = study_form(title=study.title, slug=study.slug, body="## New heading")
    response = superuser_client.post(f"{CHANGELIST}{study.pk}/change/", form)
    assert response.status_code == 302
    study.refresh_from_db()
    assert '<h2 id="new-heading">' in study.body_html


def test_change_page_links_to_the_study_on_the_site(superuser_client):
    study = CaseStudyFactory()
    response = superuser_client.get(f"{CHANGELIST}{study.pk}/change/")
    assert response.status_code == 200
    assert b"View on site" in response.content


def test_bad_input_is_shown_on_the_form_not_saved(superuser_client):
    response = superuser_client.post(
        CHANGELIST + "add/", study_form(slug="Not A Slug", repository_url="javascript:x")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "slug" in errors
    assert "repository_url" in errors
    assert not CaseStudy.objects.exists()


def test_publish_and_unpublish_actions(superuser_client, client):
    study = draft(title="Ready now")
    superuser_client.post(CHANGELIST, {"action": "publish", "_selected_action": [study.pk]})
    assert b"Ready now" in client.get("/case-studies/").content
    superuser_client.post(CHANGELIST, {"action": "unpublish", "_selected_action": [study.pk]})
    assert b"Ready now" not in client.get("/case-studies/").content


def tag_panel(client, url):
    """Tag name to count, as a visitor reads them on /tags/ or in a list's facet panel."""
    page = BeautifulSoup(client.get(url).content, "html.parser")
    panel = page.select_one("main .tag-index") if url == "/tags/" else page.select_one("main .facets")
    counts = {}
    for link in panel.select("a.tag") if panel else []:
        count = link.select_one(".tag-count")
        hidden = count.select_one(".visually-hidden")
        hidden.extract()
        counts[link.get_text(" ", strip=True).rsplit(" ", 1)[0]] = int(count.get_text(strip=True))
    return counts


def test_bulk_publish_from_a_filtered_list_counts_and_keeps_a_revision(
    superuser_client, client, django_capture_on_commit_callbacks
):
    CaseStudyFactory(title="Already out", tags=["Security"])
    study = draft(title="Waiting draft", tags=["Security", "Encryption"])
    assert tag_panel(client, "/tags/") == {"Security": 1}
    # From the list filtered by "Status: Draft": once published, the study leaves that filter.
    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(
            f"{CHANGELIST}?status__exact=draft", {"action": "publish", "_selected_action": [study.pk]}
        )
    assert tag_panel(client, "/tags/") == {"Security": 2, "Encryption": 1}
    assert tag_panel(client, "/case-studies/?tag=security") == {"Encryption": 1}
    assert b"Waiting draft" in client.get("/case-studies/?tag=encryption").content
    versions = Version.objects.get_for_object(study)
    assert versions[0].field_dict["status"] == "published"
    assert versions[0].revision.user.username == "admin"
    assert "Published" in versions[0].revision.get_comment()

    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(
            f"{CHANGELIST}?status__exact=published", {"action": "unpublish", "_selected_action": [study.pk]}
        )
    assert tag_panel(client, "/tags/") == {"Security": 1}
    assert tag_panel(client, "/case-studies/?tag=security") == {}
    assert client.get("/case-studies/?tag=encryption").status_code == 404
    assert Version.objects.get_for_object(study)[0].field_dict["status"] == "draft"
    history = superuser_client.get(f"{CHANGELIST}{study.pk}/history/").content.decode()
    assert "Moved back to draft" in history


def test_bulk_actions_leave_studies_already_so_as_they_are(superuser_client):
    study = CaseStudyFactory()
    superuser_client.post(CHANGELIST, {"action": "publish", "_selected_action": [study.pk]})
    assert not Version.objects.get_for_object(study).exists()


def test_publishing_a_future_study_says_it_is_scheduled(superuser_client):
    study = draft(published_at=timezone.now() + datetime.timedelta(days=2))
    response = superuser_client.post(
        CHANGELIST, {"action": "publish", "_selected_action": [study.pk]}, follow=True
    )
    assert b"dated in the future" in response.content


def test_tag_admin_lists_tags_with_their_study_counts(superuser_client):
    CaseStudyFactory(tags=["Security"])
    CaseStudyFactory(tags=["Security", "HIPAA"])
    html = superuser_client.get("/admin/casestudies/tag/").content.decode()
    assert "Security" in html
    assert "HIPAA" in html
    assert '<td class="field-study_count">2</td>' in html


def test_admin_requires_login(client):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_only_the_sites_own_tags_are_in_the_admin(superuser_client):
    html = superuser_client.get("/admin/").content.decode()
    assert "/admin/casestudies/tag/" in html
    assert "/admin/taggit/" not in html
