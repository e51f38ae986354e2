"""Links and slugs hold to the same rules wherever they are saved from, and pages show only web links."""

import pytest
from bs4 import BeautifulSoup
from django.core.cache import cache
from django.core.exceptions import ValidationError

from casestudies.models import CaseStudy
from casestudies.templatetags.links import safe_url
from siteprofile.models import SiteProfile, SocialLink
from tests.factories import CaseStudyFactory

pytestmark = pytest.mark.django_db

NOT_WEB_LINKS = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    # A URL to Django's URLField, but not a page a visitor's browser opens.
    "ftp://example.com/file",
]
BAD_SLUGS = ["../../x", "a/b", "Upper-Case", "double--hyphen", "-leading", "with space", ""]


def page_links(response):
    assert response.status_code == 200
    return [a["href"] for a in BeautifulSoup(response.content, "html.parser").find_all("a", href=True)]


# The models


@pytest.mark.parametrize("field", ["repository_url", "live_url"])
@pytest.mark.parametrize("url", NOT_WEB_LINKS)
def test_a_study_with_a_link_that_is_not_http_or_https_is_not_saved(field, url):
    study = CaseStudyFactory.build(**{field: url})
    with pytest.raises(ValidationError) as error:
        study.save()
    assert field in error.value.message_dict
    assert not CaseStudy.objects.exists()


@pytest.mark.parametrize("field", ["repository_url", "live_url"])
def test_changing_a_saved_study_s_link_to_javascript_is_refused(field):
    study = CaseStudyFactory(**{field: "https://example.com/"})
    setattr(study, field, "javascript:alert(1)")
    with pytest.raises(ValidationError):
        study.save()
    with pytest.raises(ValidationError):
        study.save(update_fields=[field])
    study.refresh_from_db()
    assert getattr(study, field) == "https://example.com/"


def test_http_and_https_links_are_saved():
    study = CaseStudyFactory(repository_url="https://example.com/repo", live_url="http://example.com/")
    study.refresh_from_db()
    assert (study.repository_url, study.live_url) == ("https://example.com/repo", "http://example.com/")


def test_the_form_says_which_schemes_a_link_may_have():
    study = CaseStudyFactory.build(live_url="ftp://example.com/file")
    with pytest.raises(ValidationError) as error:
        study.full_clean(validate_unique=False)
    assert error.value.message_dict["live_url"] == ["Enter an address starting with http:// or https://."]


@pytest.mark.parametrize("slug", BAD_SLUGS)
def test_a_study_with_a_slug_its_field_refuses_is_not_saved(slug):
    with pytest.raises(ValidationError) as error:
        CaseStudyFactory(slug=slug)
    assert "slug" in error.value.message_dict
    assert not CaseStudy.objects.exists()


def test_changing_a_saved_study_s_slug_to_a_path_is_refused():
    study = CaseStudyFactory(slug="vault")
    study.slug = "../../x"
    with pytest.raises(ValidationError):
        study.save()
    study.refresh_from_db()
    assert study.slug == "vault"


def test_a_save_of_other_fields_is_not_held_up_by_a_bad_value_already_stored():
    # A row from before the rule, or from update(): re-rendering its body still works.
    study = CaseStudyFactory(slug="vault")
    CaseStudy.objects.filter(pk=study.pk).update(live_url="javascript:alert(1)")
    study.refresh_from_db()
    study.body = "## Changed"
    study.save(update_fields=["body"])
    study.refresh_from_db()
    assert "Changed" in study.body_html


@pytest.mark.parametrize("url", NOT_WEB_LINKS)
def test_a_social_link_that_is_not_http_or_https_is_not_saved(url):
    with pytest.raises(ValidationError) as error:
        SocialLink.objects.create(profile=SiteProfile.objects.get(), label="Mine", url=url)
    assert "url" in error.value.message_dict
    assert not SocialLink.objects.exists()


def test_a_contact_email_that_is_not_an_address_is_not_saved():
    profile = SiteProfile.objects.get()
    profile.contact_email = "javascript:alert(1)"
    with pytest.raises(ValidationError) as error:
        profile.save()
    assert "contact_email" in error.value.message_dict


# The pages, when a bad link got past the models (update(), a data migration, an old row)


def test_a_study_page_shows_only_its_web_links(client):
    study = CaseStudyFactory(slug="vault")
    CaseStudy.objects.filter(pk=study.pk).update(
        repository_url="javascript:alert(1)", live_url="https://example.com/live"
    )
    response = client.get(study.get_absolute_url())
    assert "https://example.com/live" in page_links(response)
    assert "javascript:" not in response.content.decode().lower()


def test_a_study_page_with_no_web_link_has_no_links_list(client):
    study = CaseStudyFactory(slug="vault")
    CaseStudy.objects.filter(pk=study.pk).update(
        repository_url="javascript:alert(1)", live_url="data:text/html,hello"
    )
    page = BeautifulSoup(client.get(study.get_absolute_url()).content, "html.parser")
    assert page.select(".study-links") == []


@pytest.mark.parametrize("path", ["/", "/about/"])
def test_the_footer_and_about_page_show_only_web_links(client, path):
    profile = SiteProfile.objects.get()
    # bulk_create() calls no save(), as a data migration's or a script's rows would not.
    SocialLink.objects.bulk_create(
        [
            SocialLink(profile=profile, label="Evil", url="javascript:alert(1)", position=0),
            SocialLink(profile=profile, label="GitHub", url="https://github.com/someone", position=1),
        ]
    )
    cache.clear()
    response = client.get(path)
    assert "https://github.com/someone" in page_links(response)
    assert "javascript:" not in response.content.decode().lower()
    assert "Evil" not in response.content.decode()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("https://example.com/a?b=c#d", "https://example.com/a?b=c#d"),
        ("http://example.com", "http://example.com"),
        ("HTTPS://EXAMPLE.COM", "HTTPS://EXAMPLE.COM"),
        ("javascript:alert(1)", ""),
        (" javascript:alert(1)", ""),
        ("java\tscript:alert(1)", ""),
        ("\x00javascript:alert(1)", ""),
        ("data:text/html,hello", ""),
        ("//example.com/protocol-relative", ""),
        ("/relative", ""),
        ("mailto:someone@example.com", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_safe_url_passes_only_absolute_http_and_https_urls(value, shown):
    assert safe_url(value) == shown
