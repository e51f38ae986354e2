"""The site profile: the site's own words, edited in the admin, read by every page."""

import uuid

import pytest
from bs4 import BeautifulSoup
from django.core.cache import cache, caches
from django.db import IntegrityError, transaction
from django.template import RequestContext, Template
from django.template.loader import render_to_string
from django.utils import timezone

from portfolio import pagecache
from siteprofile.models import CACHE_KEY, DEFAULT_TAGLINE, SiteProfile, SocialLink
from tests.conftest import require_service

pytestmark = pytest.mark.django_db

ADMIN = "/admin/siteprofile/siteprofile/"
CHANGE = f"{ADMIN}1/change/"
INTRO_DEFAULT = "Case studies: deep dives into production systems, architecture decisions"


def soup_of(response):
    assert response.status_code == 200
    return BeautifulSoup(response.content, "html.parser")


def profile_form(links=(), **overrides):
    """The admin change form as a browser posts it; `links` are (label, url) pairs to add."""
    data = {
        "site_title": "Engineering Portfolio",
        "author_name": "",
        "tagline": DEFAULT_TAGLINE,
        "intro": "An introduction.",
        "about": "",
        "contact_email": "",
        "social_links-TOTAL_FORMS": str(len(links)),
        "social_links-INITIAL_FORMS": "0",
    }
    for n, (label, url) in enumerate(links):
        data |= {
            f"social_links-{n}-position": str(n),
            f"social_links-{n}-label": label,
            f"social_links-{n}-url": url,
        }
    return {**data, **overrides}


def edit_profile(**fields):
    profile = SiteProfile.objects.get()
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.save()
    return profile


# A fresh site


def test_the_migration_creates_the_one_profile_from_the_sites_existing_words():
    profile = SiteProfile.objects.get()
    assert profile.pk == 1
    assert profile.site_title == "Engineering Portfolio"
    assert profile.tagline == DEFAULT_TAGLINE
    assert profile.intro_html.startswith(f"<p>{INTRO_DEFAULT}")
    assert profile.author_name == profile.about == profile.about_html == profile.contact_email == ""


def test_a_fresh_site_reads_well_before_the_author_edits_anything(client):
    soup = soup_of(client.get("/"))
    assert soup.title.get_text() == "Engineering Portfolio"
    assert soup.find("meta", attrs={"name": "description"})["content"] == DEFAULT_TAGLINE
    assert soup.h1.get_text() == "Engineering Portfolio"
    assert INTRO_DEFAULT in soup.select_one(".intro-text").get_text()
    # No empty About page is offered, and no empty contact list.
    assert [a.get_text() for a in soup.select(".nav-list a")] == ["Home", "Case studies", "Tags"]
    assert not soup.select(".contact-links")
    year = timezone.now().year
    assert soup.select_one(".site-footer p").get_text() == f"© {year} Engineering Portfolio"


def test_about_shows_the_introduction_while_the_author_has_written_none(client):
    soup = soup_of(client.get("/about/"))
    assert soup.h1.get_text() == "About"
    assert INTRO_DEFAULT in soup.select_one(".about-text").get_text()


def test_pages_show_the_defaults_if_the_record_is_missing(client):
    SiteProfile.objects.all().delete()
    soup = soup_of(client.get("/"))
    assert soup.h1.get_text() == "Engineering Portfolio"
    assert INTRO_DEFAULT in soup.select_one(".intro-text").get_text()
    assert not SiteProfile.objects.exists()


def test_there_is_only_ever_one_profile():
    with pytest.raises(IntegrityError), transaction.atomic():
        SiteProfile(site_title="A second one").save()
    with pytest.raises(IntegrityError), transaction.atomic():
        SiteProfile.objects.create(id=2)
    assert SiteProfile.objects.get().site_title == "Engineering Portfolio"


# The admin


def test_the_admin_index_leads_straight_to_the_one_record(superuser_client):
    assert f'href="{ADMIN}"' in superuser_client.get("/admin/").content.decode()
    response = superuser_client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"] == CHANGE
    page = superuser_client.get(CHANGE)
    assert page.status_code == 200
    assert b'name="intro_html"' not in page.content


def test_the_admin_refuses_to_add_a_second_profile_or_delete_it(superuser_client):
    assert superuser_client.get(f"{ADMIN}add/").status_code == 403
    assert superuser_client.post(f"{ADMIN}add/", profile_form()).status_code == 403
    assert superuser_client.get(f"{ADMIN}1/delete/").status_code == 403
    assert superuser_client.post(f"{ADMIN}1/delete/", {"post": "yes"}).status_code == 403
    html = superuser_client.get(CHANGE).content.decode()
    assert "deletelink" not in html
    assert "_addanother" not in html
    assert SiteProfile.objects.count() == 1


def test_a_lost_profile_can_be_added_back_in_the_admin(superuser_client):
    SiteProfile.objects.all().delete()
    response = superuser_client.get(ADMIN)
    assert response["Location"] == f"{ADMIN}add/"
    assert superuser_client.post(f"{ADMIN}add/", profile_form(site_title="Back")).status_code == 302
    assert SiteProfile.objects.get().site_title == "Back"


def test_admin_edits_appear_on_the_next_page_view(
    superuser_client, client, django_capture_on_commit_callbacks
):
    client.get("/")  # the old profile is cached now
    form = profile_form(
        site_title="Ada's Notebook",
        author_name="Ada Example",
        tagline="Systems, written up.",
        intro="I design *distributed* systems.",
        about="## Background\r\n\r\nTen years of on-call.",
        contact_email="ada@example.com",
        links=[("GitHub", "https://github.com/example"), ("Mastodon", "mastodon.example/@ada")],
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(CHANGE, form)
    assert response.status_code == 302

    home = soup_of(client.get("/"))
    assert home.title.get_text() == "Ada's Notebook"
    assert home.select_one(".site-name").get_text() == "Ada's Notebook"
    assert home.find("meta", attrs={"name": "description"})["content"] == "Systems, written up."
    assert home.h1.get_text() == "Ada Example"
    assert "<em>distributed</em>" in str(home.select_one(".intro-text"))
    assert home.select_one(".site-footer p").get_text().endswith("Ada Example")
    assert home.select_one('.nav-list a[href="/about/"]').get_text() == "About"

    about = soup_of(client.get("/about/"))
    assert about.title.get_text() == "About · Ada's Notebook"
    # The page's one <h1> is "About": a heading written as `## ` or `# ` is an <h2>.
    assert about.select_one('.about-text h2[id="background"]')
    assert "Ten years of on-call." in about.select_one(".about-text").get_text()
    links = [(a.get_text(), a["href"]) for a in about.select(".about-contact a")]
    assert links == [
        ("ada@example.com", "mailto:ada@example.com"),
        ("GitHub", "https://github.com/example"),
        ("Mastodon", "https://mastodon.example/@ada"),
    ]

    study_list = soup_of(client.get("/case-studies/"))
    assert study_list.title.get_text() == "Case Studies · Ada's Notebook"


def test_editing_a_social_link_alone_shows_on_the_next_page_view(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        link = SocialLink.objects.create(profile_id=1, label="GitHub", url="https://github.com/example")
    assert b"GitHub" in client.get("/").content
    with django_capture_on_commit_callbacks(execute=True):
        link.delete()
    assert b"GitHub" not in client.get("/").content


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.com/", "not a url", "mailto:a@b.c"])
def test_a_social_link_must_be_a_web_address(superuser_client, url):
    response = superuser_client.post(CHANGE, profile_form(links=[("Bad", url)]))
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.errors[0]["url"]
    assert not SocialLink.objects.exists()


def test_the_admin_rejects_a_bad_email_and_a_blank_title(superuser_client):
    response = superuser_client.post(CHANGE, profile_form(site_title="", contact_email="not-an-email"))
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"site_title", "contact_email"}


def test_the_admin_refuses_an_introduction_or_about_page_nested_too_deeply(superuser_client):
    before = SiteProfile.current().intro_html
    response = superuser_client.post(CHANGE, profile_form(intro="- " * 500 + "a", about="[" * 20000 + "a"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"intro", "about"}
    assert "nest" in errors["intro"][0]
    assert SiteProfile.objects.get().intro_html == before


# What pages show


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "[click](javascript:alert(1))",
        '<img src="x" onerror="alert(1)">',
        '<iframe src="https://evil.example/"></iframe>',
        '<a href="https://example.com/" onclick="alert(1)" style="color:red">x</a>',
        "<style>body{display:none}</style>",
    ],
)
@pytest.mark.parametrize(("field", "url"), [("intro", "/"), ("about", "/about/")])
def test_hostile_markdown_in_intro_and_about_is_sanitised(client, field, url, hostile):
    edit_profile(**{field: f"Hello.\n\n{hostile}\n"})
    html = client.get(url).content.decode().lower()
    # The page's one script is its JSON-LD, which is data.
    html = html.replace('<script type="application/ld+json">', "")
    for bad in ["<script", "javascript:", "onerror", "<iframe", "onclick", "<style", "style="]:
        assert bad not in html, bad
    assert "hello." in html


def test_plain_text_fields_are_escaped(client):
    profile = edit_profile(site_title="</title><script>x</script>", author_name="<b>Ada</b>")
    SocialLink.objects.create(profile=profile, label="<i>GitHub</i>", url="https://github.com/example")
    html = client.get("/").content.decode()
    assert "<script>x" not in html
    assert "&lt;/title&gt;&lt;script&gt;" in html
    assert "&lt;b&gt;Ada&lt;/b&gt;" in html
    assert "&lt;i&gt;GitHub&lt;/i&gt;" in html


@pytest.mark.parametrize("about", ["", "Who I am."])
def test_about_has_one_h1_and_the_landmarks(client, about):
    edit_profile(about=about)
    soup = soup_of(client.get("/about/"))
    assert len(soup.find_all("h1")) == 1
    assert soup.find("main", id="main-content")
    assert soup.find("nav", attrs={"aria-label": "Main"})
    assert soup.select_one('a.skip-link[href="#main-content"]')
    assert soup.html["lang"] == "en"


def test_the_about_link_is_marked_current_on_the_about_page(client):
    edit_profile(about="Who I am.")
    about_link = soup_of(client.get("/about/")).select_one('.nav-list a[href="/about/"]')
    assert about_link["aria-current"] == "page"
    assert not soup_of(client.get("/")).select_one('.nav-list a[href="/about/"]').get("aria-current")


def test_footer_lists_the_email_and_social_links_in_order(client):
    profile = edit_profile(contact_email="ada@example.com", author_name="Ada Example")
    SocialLink.objects.create(
        profile=profile, label="Mastodon", url="https://mastodon.example/@ada", position=2
    )
    SocialLink.objects.create(profile=profile, label="GitHub", url="https://github.com/example", position=1)
    footer = soup_of(client.get("/case-studies/")).select_one("footer")
    assert footer.select_one("p").get_text() == f"© {timezone.now().year} Ada Example"
    links = footer.select_one('ul.contact-links[aria-label="Contact and links"]')
    assert [(a.get_text(), a["href"], a.get("rel")) for a in links.select("li > a")] == [
        ("ada@example.com", "mailto:ada@example.com", None),
        ("GitHub", "https://github.com/example", ["me"]),
        ("Mastodon", "https://mastodon.example/@ada", ["me"]),
    ]


def test_the_404_page_reads_the_profile(client):
    edit_profile(site_title="Ada's Notebook")
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"<title>Not found \xc2\xb7 Ada&#x27;s Notebook</title>" in response.content


def test_server_error_page_renders_without_a_request_or_database(django_db_blocker):
    with django_db_blocker.block():
        html = render_to_string("500.html")
    assert "<h1>Something went wrong on our side</h1>" in html
    assert 'href="/case-studies/"' in html


# What it costs


def test_the_profile_costs_one_query_when_cold_and_none_once_cached(client, django_assert_num_queries):
    SocialLink.objects.create(profile_id=1, label="GitHub", url="https://github.com/example")
    SocialLink.objects.create(profile_id=1, label="Mastodon", url="https://mastodon.example/@ada")
    # /about/ reads nothing but the profile: its links come in the same query.
    with django_assert_num_queries(1):
        assert b"Mastodon" in client.get("/about/").content
    with django_assert_num_queries(0):
        assert b"Mastodon" in client.get("/about/").content


def test_an_admin_edit_drops_the_cached_profile(
    client, superuser_client, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client.get("/about/")
    with django_assert_num_queries(0):
        assert b"Who I am" not in client.get("/about/").content
    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(CHANGE, profile_form(about="Who I am, newly written."))
    with django_assert_num_queries(1):
        assert b"Who I am, newly written." in client.get("/about/").content


def test_nothing_is_dropped_from_the_cache_until_the_edit_commits(django_capture_on_commit_callbacks):
    SiteProfile.current()
    with django_capture_on_commit_callbacks() as callbacks:
        edit_profile(site_title="Renamed")
        # Not committed yet: another request must not see, or re-cache, the change early.
        assert SiteProfile.current().site_title == "Engineering Portfolio"
    for callback in callbacks:
        callback()
    assert SiteProfile.current().site_title == "Renamed"


def test_an_edit_made_in_another_process_reaches_this_ones_copy_on_its_next_request(client, settings):
    # Without Redis each gunicorn worker keeps its own copy, which another worker's
    # save cannot drop; that worker starts a new content generation, which every one sees.
    assert b"<title>Engineering Portfolio</title>" in client.get("/").content
    SiteProfile.objects.filter(pk=1).update(site_title="Renamed Elsewhere")
    assert b"<title>Engineering Portfolio</title>" in client.get("/").content
    pagecache.write_generation_file(settings.PAGE_CACHE_GENERATION_FILE, pagecache.new_generation())
    assert b"<title>Renamed Elsewhere</title>" in client.get("/").content


def test_a_page_that_does_not_show_the_profile_does_not_load_it(rf, django_assert_num_queries):
    request = rf.get("/")
    with django_assert_num_queries(0):
        assert Template("plain").render(RequestContext(request)) == "plain"
    assert cache.get(CACHE_KEY) is None


def redis_available(url):
    try:
        import redis

        return redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:
        return False


def test_with_redis_an_edit_in_one_process_reaches_every_other(
    settings, client, django_capture_on_commit_callbacks
):
    from tests.test_settings import REDIS_URL

    require_service(redis_available(REDIS_URL), f"Redis is not reachable at TEST_REDIS_URL ({REDIS_URL})")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }
    # Another worker: its own connection to the same Redis.
    other_worker = caches.create_connection("default")
    client.get("/")
    assert other_worker.get(CACHE_KEY)[1].site_title == "Engineering Portfolio"
    generation = other_worker.get(pagecache.GENERATION_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        edit_profile(site_title="Renamed")
    # Its copy is of an older content generation: it reads the profile again.
    assert other_worker.get(pagecache.GENERATION_KEY) != generation
    assert b"Renamed" in client.get("/").content
    assert other_worker.get(CACHE_KEY)[1].site_title == "Renamed"
    other_worker.delete(CACHE_KEY)
