import io
import json
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from django.core.management import call_command
from PIL import Image

from casestudies import socialcards
from casestudies.models import CaseStudy, SocialCard, Tag
from casestudies.socialcards import HEIGHT, MARGIN, WIDTH, CardContent, layout_card
from casestudies.views import STUDIES_PER_PAGE
from siteprofile.models import SiteProfile
from tests.conftest import require_service
from tests.factories import CaseStudyFactory, draft

pytestmark = pytest.mark.django_db

SIX_TAGS = ["Distributed Systems", "Event Sourcing", "PostgreSQL", "Kafka", "Payments", "Reliability"]
LONG_TITLE = (
    "Designing a multi-region, zero-downtime payments ledger with event sourcing, "
    "idempotent consumers and exactly-once reconciliation across three cloud providers"
)[:150]


def soup_of(response):
    return BeautifulSoup(response.content, "html.parser")


def meta(soup, key):
    tag = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
    return tag["content"] if tag else None


def canonical(soup):
    link = soup.find("link", rel="canonical")
    return link["href"] if link else None


def json_ld(response):
    scripts = soup_of(response).find_all("script", type="application/ld+json")
    assert len(scripts) == 1
    data = json.loads(scripts[0].string)
    assert data["@context"] == "https://schema.org"
    return {item["@type"]: item for item in data.get("@graph", [data])}


def card_of(study):
    return SocialCard.objects.get(study=study)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run the on-commit work (a new content generation) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


# JSON-LD


def test_a_study_is_an_article_with_breadcrumbs_in_json_ld(client):
    study = CaseStudyFactory(
        slug="vault", title="SecureVault", summary="A vault.", tags=["Security", "Crypto"]
    )
    graph = json_ld(client.get("/case-studies/vault/"))

    article = graph["Article"]
    assert article["headline"] == "SecureVault"
    assert article["description"] == "A vault."
    assert article["datePublished"] == study.published_at.isoformat()
    assert article["dateModified"] == study.updated_at.isoformat()
    assert article["author"] == {
        "@type": "Organization",
        "name": "Engineering Portfolio",
        "url": "http://testserver/",
    }
    assert article["keywords"] == ["Security", "Crypto"]
    assert article["mainEntityOfPage"] == {"@type": "WebPage", "@id": "http://testserver/case-studies/vault/"}
    assert article["image"]["url"].startswith("http://testserver/case-studies/vault/card.png?v=")
    assert (article["image"]["width"], article["image"]["height"]) == (1200, 630)

    crumbs = graph["BreadcrumbList"]["itemListElement"]
    assert [(c["position"], c["name"], c["item"]) for c in crumbs] == [
        (1, "Home", "http://testserver/"),
        (2, "Case Studies", "http://testserver/case-studies/"),
        (3, "SecureVault", "http://testserver/case-studies/vault/"),
    ]


def test_the_author_is_a_person_when_the_profile_names_one(client):
    SiteProfile.objects.update_or_create(id=1, defaults={"author_name": "Ada Lovelace"})
    CaseStudyFactory(slug="vault")
    author = json_ld(client.get("/case-studies/vault/"))["Article"]["author"]
    assert author == {"@type": "Person", "name": "Ada Lovelace", "url": "http://testserver/"}


def test_a_title_cannot_break_out_of_the_json_ld_script(client):
    title = 'Escaping </script><script>alert("x")</script> & <!-- friends'
    CaseStudyFactory(slug="escape", title=title)
    response = client.get("/case-studies/escape/")
    html = response.content.decode()
    script = html[html.index('<script type="application/ld+json">') :]
    script = script[: script.index("</script>")]
    assert "<" not in script.removeprefix("<script")
    assert "&" not in script
    assert "\\u003C/script\\u003E" in script
    assert json_ld(response)["Article"]["headline"] == title
    assert html.count("<script") == 1


@pytest.mark.parametrize(
    ("url", "trail"),
    [
        ("/case-studies/", [("Home", "/"), ("Case Studies", "/case-studies/")]),
        ("/case-studies/?tag=security", [("Home", "/"), ("Case Studies", "/case-studies/")]),
        ("/tags/", [("Home", "/"), ("Tags", "/tags/")]),
        ("/about/", [("Home", "/"), ("About", "/about/")]),
    ],
)
def test_other_pages_say_where_they_sit_in_breadcrumbs(client, url, trail):
    CaseStudyFactory(tags=["Security"])
    crumbs = json_ld(client.get(url))["BreadcrumbList"]["itemListElement"]
    assert [(c["name"], c["item"]) for c in crumbs] == [
        (name, f"http://testserver{path}") for name, path in trail
    ]
    assert [c["position"] for c in crumbs] == list(range(1, len(trail) + 1))


def test_the_home_page_describes_the_site_and_its_author(client):
    SiteProfile.objects.filter(pk=1).update(author_name="Ada Lovelace", tagline="Systems, written up.")
    website = json_ld(client.get("/"))["WebSite"]
    assert website["name"] == SiteProfile.load().site_title
    assert website["url"] == "http://testserver/"
    assert website["description"] == "Systems, written up."
    assert website["author"] == {"@type": "Person", "name": "Ada Lovelace", "url": "http://testserver/"}


# Canonical URLs and robots


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/?utm_source=newsletter&utm_medium=email", "http://testserver/"),
        (
            "/case-studies/?tag=security&utm_source=x&fbclid=abc&gclid=def&ref=hn&whatever=1",
            "http://testserver/case-studies/?tag=security",
        ),
        ("/case-studies/?page=2&utm_campaign=spring", "http://testserver/case-studies/?page=2"),
        (
            "/case-studies/?tag=encryption&tag=security&page=2&fbclid=abc",
            "http://testserver/case-studies/?tag=encryption&tag=security&page=2",
        ),
        ("/case-studies/?q=vault", "http://testserver/case-studies/"),
        (
            "/case-studies/?tag=encryption&tag=security&match=any&utm_source=x",
            "http://testserver/case-studies/?tag=encryption&tag=security&match=any",
        ),
        (
            "/case-studies/?tag=security&exclude=encryption&fbclid=abc",
            "http://testserver/case-studies/?tag=security&exclude=encryption",
        ),
        (
            "/case-studies/vault/?utm_source=x&fbclid=abc&page=3&tag=security",
            "http://testserver/case-studies/vault/",
        ),
        ("/about/?ref=mastodon", "http://testserver/about/"),
    ],
)
def test_the_canonical_url_keeps_only_what_defines_the_page(client, url, expected):
    CaseStudyFactory(slug="vault", tags=["Security", "Encryption"])
    CaseStudyFactory.create_batch(STUDIES_PER_PAGE * 2, tags=["Security", "Encryption"])
    soup = soup_of(client.get(url))
    assert canonical(soup) == expected
    assert meta(soup, "og:url") == expected


def test_error_pages_have_no_canonical_url(client):
    soup = soup_of(client.get("/missing/?utm_source=x"))
    assert canonical(soup) is None
    assert meta(soup, "og:url") is None


@pytest.mark.parametrize(
    ("url", "robots"),
    [
        ("/case-studies/", None),
        ("/case-studies/?tag=security", None),
        ("/case-studies/?tag=encryption&tag=security", "noindex, follow"),
        ("/case-studies/?q=vault", "noindex, follow"),
        ("/case-studies/?tag=encryption&tag=security&match=any", "noindex, follow"),
        ("/case-studies/?exclude=encryption", "noindex, follow"),
        ("/case-studies/vault/", None),
    ],
)
def test_tag_combinations_exclusions_and_searches_are_not_indexed(client, url, robots):
    CaseStudyFactory(slug="vault", tags=["Security", "Encryption"])
    assert meta(soup_of(client.get(url)), "robots") == robots


def test_every_public_page_has_its_own_title(client):
    CaseStudyFactory(slug="vault", title="SecureVault", tags=["Security", "Encryption"])
    CaseStudyFactory(slug="clinic", title="MediConnect", tags=["Security"])
    CaseStudyFactory.create_batch(STUDIES_PER_PAGE)
    urls = [
        "/",
        "/about/",
        "/case-studies/",
        "/case-studies/?page=2",
        "/case-studies/?tag=security",
        "/case-studies/?tag=encryption",
        "/case-studies/?tag=encryption&tag=security",
        "/case-studies/?tag=encryption&tag=security&match=any",
        "/case-studies/?exclude=encryption",
        "/case-studies/?tag=security&exclude=encryption",
        "/case-studies/?q=vault",
        "/tags/",
        "/case-studies/vault/",
        "/case-studies/clinic/",
        "/missing/",
    ]
    titles = {url: soup_of(client.get(url)).title.string for url in urls}
    assert len(set(titles.values())) == len(urls), titles
    assert titles["/case-studies/vault/"] == "SecureVault · Engineering Portfolio"
    assert titles["/case-studies/?page=2"] == "Case Studies, page 2 · Engineering Portfolio"
    assert titles["/case-studies/?tag=encryption&tag=security&match=any"] == (
        "Case Studies: Encryption or Security · Engineering Portfolio"
    )
    assert (
        titles["/case-studies/?exclude=encryption"]
        == "Case Studies: without Encryption · Engineering Portfolio"
    )


# OpenGraph and Twitter


def test_a_study_shares_as_an_article_with_its_card(client):
    study = CaseStudyFactory(
        slug="vault", title="SecureVault", summary="A vault.", tags=["Security", "Crypto"]
    )
    soup = soup_of(client.get("/case-studies/vault/"))
    assert meta(soup, "og:type") == "article"
    assert meta(soup, "og:title") == "SecureVault"
    assert meta(soup, "og:description") == "A vault."
    assert meta(soup, "og:site_name") == "Engineering Portfolio"
    assert meta(soup, "article:published_time") == study.published_at.isoformat()
    assert [tag["content"] for tag in soup.find_all("meta", property="article:tag")] == ["Security", "Crypto"]
    assert meta(soup, "twitter:card") == "summary_large_image"
    assert (meta(soup, "og:image:width"), meta(soup, "og:image:height")) == ("1200", "630")
    assert meta(soup, "og:image:alt") == "SecureVault"

    image_url = urlsplit(meta(soup, "og:image"))
    assert (image_url.scheme, image_url.netloc, image_url.path) == (
        "http",
        "testserver",
        "/case-studies/vault/card.png",
    )
    response = client.get(f"{image_url.path}?{image_url.query}")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == ("PNG", (1200, 630))


def test_other_pages_share_as_a_website_without_an_image(client):
    soup = soup_of(client.get("/"))
    assert meta(soup, "og:type") == "website"
    assert meta(soup, "og:image") is None
    assert meta(soup, "twitter:card") == "summary"


def test_the_card_url_changes_with_the_card(client):
    study = CaseStudyFactory(slug="vault", title="SecureVault")
    before = meta(soup_of(client.get("/case-studies/vault/")), "og:image")
    study.title = "SecureVault, revisited"
    study.save()
    assert meta(soup_of(client.get("/case-studies/vault/")), "og:image") != before


# The card: drawn when first asked for after a change, never when the change is saved


def requested_card(client, study):
    """The card a visitor is sent now, as stored once the request has drawn it."""
    response = client.get(f"/case-studies/{study.slug}/card.png")
    assert response.status_code == 200
    card = card_of(study)
    assert response["ETag"] == f'"{card.digest}"'
    assert bytes(card.png) == response.content
    return card


def test_an_admin_save_draws_no_card_the_first_request_does(superuser_client, client, commit):
    with commit():
        response = superuser_client.post(
            "/admin/casestudies/casestudy/add/",
            {
                "title": "SecureVault",
                "slug": "securevault",
                "summary": "A vault.",
                "body": "## Hello",
                "tags": "Security",
                "status": "published",
                "published_at_0": "2024-11-20",
                "published_at_1": "00:00:00",
                "outcomes-TOTAL_FORMS": "0",
                "outcomes-INITIAL_FORMS": "0",
                "slug_redirects-TOTAL_FORMS": "0",
                "slug_redirects-INITIAL_FORMS": "0",
                "images-TOTAL_FORMS": "0",
                "images-INITIAL_FORMS": "0",
            },
        )
    assert response.status_code == 302
    study = CaseStudy.objects.get(slug="securevault")
    assert not SocialCard.objects.filter(study=study).exists()
    card = requested_card(client, study)
    assert card.digest == CardContent("SecureVault", ("Security",), "Engineering Portfolio").digest
    assert Image.open(io.BytesIO(bytes(card.png))).size == (1200, 630)


def test_the_card_is_drawn_again_when_the_title_changes(client, commit):
    study = CaseStudyFactory(title="SecureVault", tags=["Security"])
    before = requested_card(client, study)
    with commit():
        study.title = "SecureVault 2"
        study.save()
    # Stale, not drawn: nothing happens until someone asks.
    assert card_of(study).digest == before.digest
    after = requested_card(client, study)
    assert after.digest != before.digest
    assert bytes(after.png) != bytes(before.png)


@pytest.mark.parametrize(
    "change",
    [
        lambda study: study.tags.add("Encryption"),
        lambda study: study.tags.remove("Security"),
        lambda study: study.tags.clear(),
        lambda study: study.tags.set(["Encryption", "Security"]),
    ],
)
def test_the_card_is_drawn_again_when_the_tags_change(client, commit, change):
    study = CaseStudyFactory(tags=["Security"])
    before = requested_card(client, study)
    with commit():
        change(study)
    study = CaseStudy.objects.with_tags().get(pk=study.pk)
    after = requested_card(client, study)
    assert after.digest == CardContent.of(study).digest != before.digest


def test_the_card_is_kept_when_only_the_body_changes(client, commit):
    study = CaseStudyFactory(tags=["Security"])
    before = requested_card(client, study)
    with commit():
        study.body = "## Something else entirely"
        study.summary = "A new summary."
        study.save()
    after = requested_card(client, study)
    assert (after.digest, after.updated_at) == (before.digest, before.updated_at)


def test_renaming_a_tag_or_the_site_draws_the_cards_again(client, commit):
    study = CaseStudyFactory(tags=["Security"])
    first = requested_card(client, study).digest
    with commit():
        tag = Tag.objects.get(name="Security")
        tag.name = "InfoSec"
        tag.save()
    second = requested_card(client, study).digest
    assert second != first
    with commit():
        SiteProfile.objects.update_or_create(id=1, defaults={"site_title": "Ada's Notes"})
    third = requested_card(client, study)
    assert third.digest == CardContent(study.title, ("InfoSec",), "Ada's Notes").digest


def test_deleting_a_tag_draws_its_studies_cards_again(client, commit):
    study = CaseStudyFactory(tags=["Security", "Encryption"])
    requested_card(client, study)
    with commit():
        Tag.objects.get(name="Encryption").delete()
    card = requested_card(client, study)
    assert card.digest == CardContent(study.title, ("Security",), "Engineering Portfolio").digest


def test_render_studies_draws_missing_cards(commit):
    study = CaseStudyFactory(tags=["Security"])  # as if imported before cards existed
    assert not SocialCard.objects.filter(study=study).exists()
    with commit():
        call_command("render_studies", stdout=io.StringIO())
    assert card_of(study).digest == CardContent.of(study).digest


# The card's view


def test_a_missing_card_is_drawn_when_asked_for(client):
    study = CaseStudyFactory(slug="vault")
    assert not SocialCard.objects.filter(study=study).exists()
    response = client.get("/case-studies/vault/card.png")
    assert response.status_code == 200
    assert card_of(study).digest == response["ETag"].strip('"')


def test_a_stale_card_is_drawn_again_when_asked_for(client, commit):
    with commit():
        study = CaseStudyFactory(slug="vault", title="Old title")
    SocialCard.objects.filter(study=study).update(digest="stale")
    response = client.get("/case-studies/vault/card.png")
    assert response["ETag"] == f'"{card_of(study).digest}"'


def test_the_card_is_cached_and_revalidated_by_its_digest(client):
    CaseStudyFactory(slug="vault")
    response = client.get("/case-studies/vault/card.png")
    assert response["Cache-Control"] == "public, max-age=86400"
    assert "Cookie" not in response.get("Vary", "")
    etag = response["ETag"]

    not_modified = client.get("/case-studies/vault/card.png", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == etag
    assert not_modified["Cache-Control"] == "public, max-age=86400"

    other = client.get("/case-studies/vault/card.png", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert client.head("/case-studies/vault/card.png").status_code == 200


def test_a_drafts_card_is_404_to_the_public_and_private_to_staff(client, staff_client_for_cards):
    draft(slug="secret")
    assert client.get("/case-studies/secret/card.png").status_code == 404
    assert client.get("/case-studies/nothing-here/card.png").status_code == 404
    response = staff_client_for_cards.get("/case-studies/secret/card.png")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


@pytest.fixture
def staff_client_for_cards(django_user_model):
    from django.contrib.auth.models import Permission
    from django.test import Client

    user = django_user_model.objects.create_user("editor", password="a long passphrase", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="casestudies"))
    staff = Client()
    staff.force_login(user)
    return staff


def test_a_drafts_page_offers_no_card(staff_client):
    draft(slug="secret")
    soup = soup_of(staff_client.get("/case-studies/secret/"))
    assert meta(soup, "og:image") is None


def test_an_old_slugs_card_redirects_to_the_card_now(client):
    study = CaseStudyFactory(slug="old-name")
    study.slug = "new-name"
    study.save()
    response = client.get("/case-studies/old-name/card.png")
    assert response.status_code == 301
    assert response["Location"] == "/case-studies/new-name/card.png"


def test_the_card_view_only_answers_get_and_head(client):
    CaseStudyFactory(slug="vault")
    assert client.post("/case-studies/vault/card.png").status_code == 405


# The card's layout: text never leaves the card


def assert_inside_margins(layout):
    for left, top, right, bottom in layout.text_boxes() + layout.pill_boxes():
        assert left >= MARGIN, left
        assert right <= WIDTH - MARGIN, right
        assert top >= MARGIN, top
        assert bottom <= HEIGHT - MARGIN, bottom


def test_a_long_title_wraps_and_shrinks_within_the_card():
    layout = layout_card(CardContent(LONG_TITLE, tuple(SIX_TAGS), "Engineering Portfolio"))
    assert len(layout.title_lines) > 2
    assert not layout.title_cut
    assert " ".join(line.text for line in layout.title_lines) == LONG_TITLE
    assert layout.title_lines[0].size < socialcards.TITLE_SIZES[0] * layout.scale
    # As many tags as fit, and a "+N" pill for the others.
    assert layout.pills[-1].more
    shown = [pill.label.text for pill in layout.pills if not pill.more]
    assert shown == SIX_TAGS[: len(shown)]
    assert layout.pills[-1].label.text == f"+{len(SIX_TAGS) - len(shown)}"
    assert_inside_margins(layout)
    # The title stays above the tags.
    assert layout.title_lines[-1].box[3] < layout.pills[0].box[1]


def test_a_short_title_is_drawn_large_on_one_line():
    layout = layout_card(CardContent("SecureVault", ("Security",), "Engineering Portfolio"))
    assert [line.text for line in layout.title_lines] == ["SecureVault"]
    assert layout.title_lines[0].size == socialcards.TITLE_SIZES[0] * layout.scale
    assert_inside_margins(layout)


@pytest.mark.parametrize(
    "content",
    [
        CardContent("W" * 200, tuple(f"tag {n}" for n in range(30)), "S" * 100),
        CardContent("Word " * 40, ("A tag whose name goes on and on and on and on and on and on",), "Site"),
        CardContent("https://example.com/" + "W" * 180, (), "Site"),
    ],
)
def test_text_too_long_for_the_card_is_cut_with_an_ellipsis(content):
    layout = layout_card(content)
    assert_inside_margins(layout)
    texts = [layout.site_name.text, *(line.text for line in layout.title_lines)]
    texts += [pill.label.text for pill in layout.pills]
    assert any(text.endswith("…") for text in texts)


def test_non_ascii_titles_are_drawn_with_a_font_that_has_their_letters():
    require_service(
        socialcards.installed_families(), "DejaVu Sans (Debian's fonts-dejavu-core) is not installed"
    )
    layout = layout_card(CardContent("Café naïveté: Ærø, Łódź, Ελληνικά, Кириллица", ("Café",), "Portfolio"))
    assert socialcards.covers(layout.family, "Café naïveté: Ærø, Łódź, Ελληνικά, Кириллица")
    assert_inside_margins(layout)


def test_a_cjk_title_gets_a_card_and_a_cjk_font_when_one_is_installed():
    title = "日本語のタイトル: 分散システムの設計と運用についての長い説明文です"
    content = CardContent(title, ("日本語",), "Portfolio")
    png = socialcards.draw_card(content)
    assert Image.open(io.BytesIO(png)).size == (1200, 630)
    layout = layout_card(content)
    assert_inside_margins(layout)
    # CJK has no spaces: the title still wraps, between characters.
    assert len(layout.title_lines) > 1
    require_service(
        any(socialcards.covers(family, title) for family in socialcards.installed_families()),
        "No CJK font installed (Debian: fonts-noto-cjk): CJK letters are drawn as boxes",
    )
    assert socialcards.covers(layout.family, title)
