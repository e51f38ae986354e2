import datetime

import pytest
from bs4 import BeautifulSoup
from django.core import signing
from django.test import Client
from django.utils import timezone

from casestudies import diagrams
from casestudies.previews import MAX_PREVIEW_BYTES, SHARE_SALT, share_link
from tests.factories import CaseStudyFactory, draft, scheduled
from tests.test_settings import load_settings

pytestmark = pytest.mark.django_db

PREVIEW_URL = "/admin/casestudies/casestudy/preview/"
CHANGELIST = "/admin/casestudies/casestudy/"
SEVEN_DAYS = datetime.timedelta(days=7)


def assert_kept_private(response):
    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex"
    assert response["Referrer-Policy"] == "no-referrer"


# The admin's live preview


def test_live_preview_renders_the_body_as_the_public_page_does(staff_client):
    body = "# Context\r\n\r\n```python\r\nimport this\r\n```\r\n\r\n| a | b |\r\n|---|---|\r\n| 1 | 2 |\r\n"
    response = staff_client.post(PREVIEW_URL, {"body": body})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    rendered = CaseStudyFactory(body=body)
    assert response.json() == {
        "html": rendered.body_html,
        "toc_html": rendered.toc_html,
        "reading_minutes": rendered.reading_minutes,
        "problems": [],
    }
    assert '<h2 id="context">' in response.json()["html"]
    assert '<div class="highlight">' in response.json()["html"]


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<a href="#" style="color:red" onclick="alert(1)">x</a>',
    ],
)
def test_live_preview_is_sanitised(staff_client, hostile):
    html = staff_client.post(PREVIEW_URL, {"body": f"Before\n\n{hostile}\n\nAfter"}).json()["html"]
    assert "<script" not in html
    assert "alert(1)" not in html
    assert "onerror" not in html
    assert "onclick" not in html
    assert "javascript:" not in html
    assert "style=" not in html


def test_live_preview_of_an_empty_body(staff_client):
    response = staff_client.post(PREVIEW_URL, {"body": ""})
    assert response.json() == {"html": "", "toc_html": "", "reading_minutes": 1, "problems": []}


def test_live_preview_reports_a_diagram_that_cannot_be_drawn_as_saving_would(
    staff_client, monkeypatch, tmp_path
):
    monkeypatch.setattr(diagrams, "DOT_BINARY", str(tmp_path / "no-such-dot"))
    payload = staff_client.post(PREVIEW_URL, {"body": "```dot\ndigraph { a -> b }\n```\n"}).json()
    assert payload["problems"] == [
        "Diagram 1 could not be drawn: Graphviz (the `dot` program) is not installed on the server."
    ]
    assert '<div class="highlight">' in payload["html"]


def test_live_preview_refuses_anonymous_visitors(client):
    response = client.post(PREVIEW_URL, {"body": "Hello"})
    assert response.status_code == 403
    assert "error" in response.json()
    assert "Hello" not in response.content.decode()


def test_live_preview_refuses_users_who_are_not_staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("reader", password="x"))
    assert client.post(PREVIEW_URL, {"body": "Hello"}).status_code == 403


def test_live_preview_refuses_staff_who_may_not_write_studies(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("intern", password="x", is_staff=True))
    assert client.post(PREVIEW_URL, {"body": "Hello"}).status_code == 403


def test_live_preview_answers_only_post(staff_client):
    response = staff_client.get(PREVIEW_URL, {"body": "Hello"})
    assert response.status_code == 405
    assert "no-store" in response["Cache-Control"]


def test_live_preview_needs_the_csrf_token(django_user_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "x"))
    assert client.post(PREVIEW_URL, {"body": "Hello"}).status_code == 403
    # What admin-preview.js does: the token from the form's hidden input, in a header.
    page = client.get(f"{CHANGELIST}add/").content.decode()
    token = BeautifulSoup(page, "html.parser").find("input", attrs={"name": "csrfmiddlewaretoken"})["value"]
    response = client.post(PREVIEW_URL, {"body": "Hello"}, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert response.json()["html"] == "<p>Hello</p>"


def test_live_preview_refuses_a_body_over_the_limit_saying_why(staff_client):
    assert staff_client.post(PREVIEW_URL, {"body": "x" * MAX_PREVIEW_BYTES}).status_code == 200
    response = staff_client.post(PREVIEW_URL, {"body": "x" * (MAX_PREVIEW_BYTES + 1)})
    assert response.status_code == 413
    assert "the live preview stops at 200 KB" in response.json()["error"]


def test_live_preview_counts_the_limit_in_bytes(staff_client):
    # "é" is two bytes in UTF-8: a body of short characters can still be too large.
    response = staff_client.post(PREVIEW_URL, {"body": "é" * (MAX_PREVIEW_BYTES // 2 + 1)})
    assert response.status_code == 413


def test_live_preview_without_a_body_field_is_a_400(staff_client):
    response = staff_client.post(PREVIEW_URL, {"text": "Hello"})
    assert response.status_code == 400
    assert "body" in response.json()["error"]


def test_change_page_loads_the_preview_script_and_styles_and_marks_the_body(superuser_client):
    study = CaseStudyFactory()
    html = superuser_client.get(f"{CHANGELIST}{study.pk}/change/").content.decode()
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script", src=lambda src: src and src.endswith("js/admin-preview.js"))
    assert soup.find("link", href=lambda href: href and href.endswith("css/admin-preview.css"))
    body = soup.find("textarea", attrs={"name": "body"})
    assert body["data-preview-url"] == PREVIEW_URL
    assert body["data-preview-max-bytes"] == str(MAX_PREVIEW_BYTES)


# Share links


def shared_path(study):
    return share_link(study).path


@pytest.mark.parametrize("make", [draft, scheduled])
def test_a_share_link_shows_an_unpublished_study_without_an_account(client, make):
    study = make(title="Not yet public", body="## Design\n\nThe plan.")
    path = shared_path(study)
    assert path.startswith("/case-studies/preview/")
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Not yet public</h1>" in html
    assert '<h2 id="design">' in html
    assert "Preview shared by the author:" in html
    assert "this study is not published yet. The link expires on" in html
    assert "only staff can see this page" not in html
    assert "Edit in the admin" not in html
    assert '<meta name="robots" content="noindex">' in html
    assert_kept_private(response)


def test_the_banner_gives_the_date_the_link_expires(client, time_machine):
    time_machine.move_to(datetime.datetime(2030, 3, 1, 9, 30, tzinfo=datetime.UTC), tick=False)
    link = share_link(draft())
    assert link.expires_at == datetime.datetime(2030, 3, 8, 9, 30, tzinfo=datetime.UTC)
    html = client.get(link.path).content.decode()
    assert '<time datetime="2030-03-08T09:30:00+0000">March 8, 2030, 09:30 UTC</time>' in html


def test_a_share_link_expires_after_seven_days(client, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    path = shared_path(draft())
    time_machine.shift(SEVEN_DAYS - datetime.timedelta(seconds=1))
    assert client.get(path).status_code == 200
    time_machine.shift(datetime.timedelta(seconds=1))
    response = client.get(path)
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>This preview link has expired</h1>" in html
    assert "Ask the author for a new link." in html
    assert 'href="/case-studies/"' in html
    assert_kept_private(response)


@pytest.mark.parametrize(("days", "seconds"), [(None, "604800"), ("", "604800"), ("2", "172800")])
def test_the_link_lifetime_is_read_from_the_environment_in_days(tmp_path, days, seconds):
    env = {} if days is None else {"DJANGO_PREVIEW_LINK_DAYS": days}
    result = load_settings(
        tmp_path, "from portfolio import settings as s; print(s.PREVIEW_LINK_MAX_AGE)", **env
    )
    assert result.stdout.strip() == seconds, result.stderr


@pytest.mark.parametrize("days", ["0", "-1", "seven", "1.5", "٧"])
def test_a_mistyped_link_lifetime_is_a_clear_error(tmp_path, days):
    result = load_settings(tmp_path, DJANGO_PREVIEW_LINK_DAYS=days)
    assert result.returncode != 0
    assert "DJANGO_PREVIEW_LINK_DAYS must be a whole number of days" in result.stderr


def test_the_link_lifetime_is_a_setting(client, settings, time_machine):
    settings.PREVIEW_LINK_MAX_AGE = 60 * 60
    time_machine.move_to(timezone.now(), tick=False)
    path = shared_path(draft())
    time_machine.shift(datetime.timedelta(hours=1))
    assert client.get(path).status_code == 403


def test_a_link_to_a_renamed_draft_still_works(client):
    study = draft(slug="first-name")
    path = shared_path(study)
    study.slug = "second-name"
    study.save()
    assert client.get(path).status_code == 200


def test_a_link_to_a_study_published_since_redirects_to_its_page(client, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    study = draft()
    path = shared_path(study)
    study.status = "published"
    study.save()
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == study.get_absolute_url()
    # Even once the link has expired: the study is there for anyone to read.
    time_machine.shift(SEVEN_DAYS * 2)
    assert client.get(path)["Location"] == study.get_absolute_url()


def test_a_link_to_a_scheduled_study_leads_to_its_page_once_it_is_out(client, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    study = scheduled()
    path = shared_path(study)
    assert client.get(path).status_code == 200
    time_machine.shift(datetime.timedelta(days=4))
    assert client.get(path)["Location"] == study.get_absolute_url()


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "no-signature-here:",
        ":",
        "x" * 5000,
        "é" * 40 + ":" + "ü" * 40,
        "%FF%FE",
        "日本語:署名",
        "W1sxXQ:abc",
    ],
)
def test_a_garbage_token_answers_a_styled_404(client, token):
    response = client.get(f"/case-studies/preview/{token}/")
    assert response.status_code == 404
    assert "<h1>This preview link does not work</h1>" in response.content.decode()
    assert_kept_private(response)


def test_a_tampered_token_answers_a_styled_404(client):
    study = draft()
    other = draft()
    token = shared_path(study).removeprefix("/case-studies/preview/").removesuffix("/")
    payload, signature = token.rsplit(":", 1)
    # The same signature on another study's id and a later expiry.
    forged_payload = signing.b64_encode(f"[{other.pk},4102444800]".encode()).decode()
    for token in [
        f"{forged_payload}:{signature}",
        f"{payload}:{signature[:-1]}",
        f"{payload}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{payload}x:{signature}",
        signing.Signer(salt="another-purpose").sign_object([study.pk, 4102444800]),
    ]:
        response = client.get(f"/case-studies/preview/{token}/")
        assert response.status_code == 404, token
        assert b"This preview link does not work" in response.content


def test_a_token_signed_for_something_else_is_refused(client):
    # Signed with the right salt and key, but not a [pk, expiry] pair.
    token = signing.Signer(salt=SHARE_SALT).sign_object({"study": 1})
    assert client.get(f"/case-studies/preview/{token}/").status_code == 404


def test_a_link_to_a_deleted_study_answers_a_styled_404(client):
    study = draft()
    path = shared_path(study)
    study.delete()
    response = client.get(path)
    assert response.status_code == 404
    assert b"This preview link does not work" in response.content


def test_share_links_answer_only_get_and_head(client):
    path = shared_path(draft())
    assert client.head(path).status_code == 200
    assert client.post(path).status_code == 405


def test_a_study_may_still_be_slugged_preview(client):
    study = CaseStudyFactory(slug="preview", title="Preview")
    response = client.get("/case-studies/preview/")
    assert response.status_code == 200
    assert b"<h1>Preview</h1>" in response.content
    assert client.get(shared_path(draft())).status_code == 200
    assert client.get(shared_path(study)).status_code == 302


def test_the_staff_banner_is_unchanged_for_staff_on_the_study_page(staff_client):
    study = draft()
    html = staff_client.get(study.get_absolute_url()).content.decode()
    assert "only staff can see this page" in html
    assert "Preview shared by the author" not in html


# The share link in the admin


def share_field(response):
    soup = BeautifulSoup(response.content, "html.parser")
    return soup.select_one(".field-share_preview .readonly")


@pytest.mark.parametrize("make", [draft, scheduled])
def test_change_page_offers_a_share_link_for_a_study_not_yet_public(superuser_client, client, make):
    study = make()
    field = share_field(superuser_client.get(f"{CHANGELIST}{study.pk}/change/"))
    link = field.select_one("input[data-share-preview-url]")
    assert link["value"].startswith("/case-studies/preview/")
    assert link.has_attr("readonly")
    assert field.select_one("a")["href"] == link["value"]
    assert "until" in field.get_text()
    assert client.get(link["value"]).status_code == 200


def test_change_page_offers_no_share_link_for_a_published_study(superuser_client):
    study = CaseStudyFactory()
    field = share_field(superuser_client.get(f"{CHANGELIST}{study.pk}/change/"))
    assert "Published" in field.get_text()
    assert "/case-studies/preview/" not in str(field)


def test_add_page_explains_where_the_share_link_will_be(superuser_client):
    field = share_field(superuser_client.get(f"{CHANGELIST}add/"))
    assert "Save the study first" in field.get_text()
