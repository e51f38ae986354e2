"""What visitors see of a study's pictures: its cover on its page and its card, the body's
figures, the share image, and the picture given to search engines and feed readers.

Pages are read as markup: no uploaded file is fetched over HTTP (the share image reads the
master from the storage).
"""

import io
import json

import feedparser
import pytest
from bs4 import BeautifulSoup
from PIL import Image

from casestudies import images, socialcards
from casestudies.views import CARD_COVER_SIZES
from tests.factories import CaseStudyFactory, add_image, draft, image_bytes
from tests.test_html_validity import check_with_nu

pytestmark = pytest.mark.django_db


def soup_of(response):
    assert response.status_code == 200
    return BeautifulSoup(response.content, "html.parser")


@pytest.fixture
def covered(db):
    """A published study with a cover (credited) and a figure its body shows."""
    study = CaseStudyFactory(slug="vault", title="SecureVault", tags=["Security", "Encryption"])
    add_image(
        study,
        "cover.png",
        width=1000,
        height=500,
        alt="The vault's door",
        is_cover=True,
        credit="Photo: Ada",
    )
    add_image(study, "whiteboard.png", width=800, height=600, alt="A whiteboard")
    study.body = '## Context\n\n![The first sketch](whiteboard.png "Where it began")\n'
    study.save()
    return study


def widest_webp(image):
    url, width = image.renditions("webp")[-1]
    return f"http://testserver{url}", width


def assert_every_img_is_sized(soup):
    for img in soup.find_all("img"):
        assert img.get("width"), img
        assert img.get("height"), img


# The study page


def test_the_cover_comes_first_on_its_page_fetched_at_once(client, covered):
    soup = soup_of(client.get("/case-studies/vault/"))
    main = soup.select_one(".study-main")
    cover = main.find("figure")
    assert "study-cover" in cover["class"]
    # Above the key facts and the body.
    assert main.find(True) is cover
    img = cover.find("img")
    assert img["alt"] == "The vault's door"
    assert img["fetchpriority"] == "high"
    assert "loading" not in img.attrs
    assert (img["width"], img["height"]) == ("1000", "500")
    assert [source["type"] for source in cover.find_all("source")] == ["image/avif", "image/webp"]
    assert all(source["srcset"] and source["sizes"] for source in cover.find_all("source"))
    assert cover.figcaption.get_text(strip=True) == "Photo: Ada"
    assert_every_img_is_sized(soup)


def test_a_figure_in_the_body_is_a_figure_with_its_caption(client, covered):
    soup = soup_of(client.get("/case-studies/vault/"))
    figure = soup.select_one(".prose figure.figure")
    img = figure.find("img")
    assert img["alt"] == "The first sketch"
    assert img["loading"] == "lazy"
    assert (img["width"], img["height"]) == ("800", "600")
    assert figure.figcaption.get_text(strip=True) == "Where it began"


def test_a_study_without_a_cover_shows_none(client):
    study = CaseStudyFactory(slug="plain")
    add_image(study, "figure.png")
    soup = soup_of(client.get("/case-studies/plain/"))
    assert soup.select_one(".study-cover") is None
    assert soup.find("img") is None


def test_pages_with_pictures_are_valid_html(client, covered, tmp_path, java):
    CaseStudyFactory(title="No cover")
    for name, url in {"study": "/case-studies/vault/", "list": "/case-studies/", "home": "/"}.items():
        response = client.get(url)
        assert response.status_code == 200
        (tmp_path / f"{name}.html").write_bytes(response.content)
    errors = check_with_nu(tmp_path)
    messages = [
        f"{name}: {message}"
        for name, page_errors in errors.items()
        for message in page_errors
        # HTML has had fetchpriority since 2023; the packaged checker (vnu 20.6.30) predates it.
        if "“fetchpriority”" not in message
    ]
    assert not messages, "The W3C Nu checker reports:\n" + "\n".join(messages)


# Cards


def card_parts(card):
    """The card's parts, in their order, by what each is."""
    names = []
    for part in card.find_all(recursive=False):
        if part.name == "picture":
            names.append("cover")
        elif "card-meta" in part.get("class", []):
            label = part.select_one(".card-label").get_text(strip=True)
            tags = [link.get_text(strip=True) for link in part.select(".tag-list a")]
            names.append(f"{label}: {', '.join(tags)}")
        elif part.name.startswith("h"):
            names.append("title")
        elif "card-summary" in part.get("class", []):
            names.append("summary")
        elif part.find("time"):
            names.append("date")
    return names


@pytest.mark.parametrize("url", ["/case-studies/", "/", "/case-studies/?q=securevault"])
def test_a_card_shows_a_small_lazy_cover_then_what_it_is_then_the_study(client, covered, url):
    soup = soup_of(client.get(url))
    [card] = soup.select(".card-grid article.card")
    assert card_parts(card) == ["cover", "Case Study: Security, Encryption", "title", "summary", "date"]
    img = card.picture.img
    # The title beside it names the study.
    assert img["alt"] == ""
    assert img["loading"] == "lazy"
    assert "fetchpriority" not in img.attrs
    assert (img["width"], img["height"]) == ("1000", "500")
    sources = card.picture.find_all("source")
    assert [source["type"] for source in sources] == ["image/avif", "image/webp"]
    assert {source["sizes"] for source in sources} == {CARD_COVER_SIZES}
    assert_every_img_is_sized(soup)


def test_a_card_without_a_cover_has_no_empty_box(client):
    CaseStudyFactory(tags=["Security"])
    [card] = soup_of(client.get("/case-studies/")).select(".card-grid article.card")
    assert card_parts(card) == ["Case Study: Security", "title", "summary", "date"]
    assert card.find(["picture", "img"]) is None


def test_a_cached_card_shows_the_new_cover_once_the_images_change(client, django_capture_on_commit_callbacks):
    study = CaseStudyFactory(title="Vault")
    assert soup_of(client.get("/case-studies/")).select_one(".card picture") is None
    with django_capture_on_commit_callbacks(execute=True):
        add_image(study, "cover.png", is_cover=True)
    assert soup_of(client.get("/case-studies/")).select_one(".card picture") is not None


# The share image


def share_image(client, study):
    response = client.get(f"/case-studies/{study.slug}/card.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    return response.content


def test_the_share_image_of_a_study_with_a_cover_is_the_cover_under_its_title(client):
    plain = CaseStudyFactory(slug="plain", title="SecureVault")
    with_cover = CaseStudyFactory(slug="covered", title="SecureVault")
    add_image(with_cover, "cover.png", width=900, height=1400, is_cover=True)

    drawn = share_image(client, with_cover)
    picture = Image.open(io.BytesIO(drawn))
    assert (picture.format, picture.size) == ("PNG", (1200, 630))
    assert drawn != share_image(client, plain)
    # The band the title sits on is dark whatever the picture, so white text reads on it.
    band = picture.convert("L").crop((0, socialcards.COVER_BAND_TOP, 1200, 630))
    assert band.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0)) < 100
    # Text stays inside the margins.
    content = socialcards.CardContent.of(with_cover)
    for left, top, right, bottom in socialcards.layout_card(content).text_boxes():
        assert left >= socialcards.MARGIN
        assert right <= 1200 - socialcards.MARGIN
        assert top >= socialcards.COVER_BAND_TOP
        assert bottom <= 630


def test_a_new_cover_draws_a_new_share_image(client):
    study = CaseStudyFactory(slug="vault")
    cover = add_image(study, "cover.png", is_cover=True)
    before_url = socialcards.card_url(study)
    before = share_image(client, study)

    cover.show(images.accept(image_bytes(1200, 800), "cover.png"))
    cover.save()
    assert socialcards.card_url(study) != before_url
    assert share_image(client, study) != before


def test_the_cover_is_part_of_the_share_images_digest():
    without = socialcards.CardContent("SecureVault", ("Security",), "Portfolio")
    one = socialcards.CardContent("SecureVault", ("Security",), "Portfolio", "images/aaa.png")
    other = socialcards.CardContent("SecureVault", ("Security",), "Portfolio", "images/bbb.png")
    assert len({without.digest, one.digest, other.digest}) == 3


# For search engines and feed readers


def test_json_ld_carries_the_covers_widest_webp_at_its_absolute_address(client, covered):
    soup = soup_of(client.get("/case-studies/vault/"))
    [script] = soup.find_all("script", type="application/ld+json")
    [article] = [item for item in json.loads(script.string)["@graph"] if item["@type"] == "Article"]
    url, width = widest_webp(covered.cover)
    assert article["image"] == {"@type": "ImageObject", "url": url, "width": width, "height": width // 2}
    assert url.startswith("http://testserver/")
    assert url.endswith(".webp")
    # Link previews still get the share image, drawn over the cover.
    og_image = soup.find("meta", property="og:image")["content"]
    assert og_image.startswith("http://testserver/case-studies/vault/card.png?v=")


def test_a_drafts_json_ld_carries_no_image(staff_client):
    study = draft(slug="secret")
    add_image(study, "cover.png", is_cover=True)
    soup = soup_of(staff_client.get("/case-studies/secret/"))
    [article] = [
        item
        for item in json.loads(soup.find("script", type="application/ld+json").string)["@graph"]
        if item["@type"] == "Article"
    ]
    assert "image" not in article


def test_the_feed_carries_each_covers_absolute_address(client, covered):
    CaseStudyFactory(title="No cover")
    response = client.get("/case-studies/feed/")
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    by_title = {entry.title: entry for entry in feed.entries}
    url, width = widest_webp(covered.cover)
    [media] = by_title["SecureVault"].media_content
    assert media == {
        "url": url,
        "medium": "image",
        "type": "image/webp",
        "width": str(width),
        "height": str(width // 2),
    }
    assert "media_content" not in by_title["No cover"]
