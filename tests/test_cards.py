"""Each study's card on the list is stored whole, and follows every change to what it shows."""

import pytest
from bs4 import BeautifulSoup
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from casestudies.cards import current_key
from casestudies.models import CaseStudy, Tag
from tests.factories import CaseStudyFactory

pytestmark = pytest.mark.django_db


def cards(client):
    """Each card on the list as (title, tag names), once each is stored and current."""
    for study in CaseStudy.objects.all():
        assert study.card_key == current_key(), f"the card of {study} is not stored"
    # Stored cards cost the list no query of their own (after a first request caches the profile).
    client.get("/case-studies/")
    with CaptureQueriesContext(connection) as queries:
        soup = BeautifulSoup(client.get("/case-studies/").content, "html.parser")
    assert len(queries) == 2
    return [
        (
            card.select_one(".card-title").get_text(strip=True),
            [tag.get_text(strip=True) for tag in card.select(".tag")],
        )
        for card in soup.select(".card-grid .card")
    ]


def test_a_card_shows_the_study_as_saved(client):
    study = CaseStudyFactory(title="Vault", tags=["Security", "Encryption"])
    assert cards(client) == [("Vault", ["Security", "Encryption"])]
    study.title = "SecureVault"
    study.summary = "A new summary, with <angle brackets> & an ampersand."
    study.save()
    html = client.get("/case-studies/").content.decode()
    assert cards(client) == [("SecureVault", ["Security", "Encryption"])]
    assert "A new summary, with &lt;angle brackets&gt; &amp; an ampersand." in html
    assert '<a href="/case-studies/vault/">SecureVault</a>' in html


def test_a_card_follows_its_studys_tags(client):
    study = CaseStudyFactory(title="Vault", tags=["Security"])
    study.tags.add("Encryption")
    assert cards(client) == [("Vault", ["Security", "Encryption"])]
    study.tags.remove("Security")
    assert cards(client) == [("Vault", ["Encryption"])]


def test_renaming_merging_or_deleting_a_tag_changes_the_cards_that_show_it(client):
    CaseStudyFactory(title="Vault", tags=["Security", "Realtime"])
    CaseStudyFactory(title="Stream", tags=["Real-Time"])
    security = Tag.objects.get(name="Security")
    security.name = "SECURITY"
    security.save()
    assert ("Vault", ["SECURITY", "Realtime"]) in cards(client)
    Tag.objects.get(name="Realtime").merge_into(Tag.objects.get(name="Real-Time"))
    assert sorted(cards(client)) == [("Stream", ["Real-Time"]), ("Vault", ["SECURITY", "Real-Time"])]
    Tag.objects.get(name="Real-Time").delete()
    assert sorted(cards(client)) == [("Stream", []), ("Vault", ["SECURITY"])]


def test_a_card_left_by_an_older_release_is_drawn_afresh_and_migrate_stores_it_again(client):
    study = CaseStudyFactory(title="Vault", tags=["Security"])
    # As after a release that changed the card's template: the stored HTML is out of date.
    CaseStudy.objects.filter(pk=study.pk).update(card_html="<p>an old card</p>", card_key="older-release")
    html = client.get("/case-studies/").content.decode()
    assert "an old card" not in html
    assert '<a href="/case-studies/vault/">Vault</a>' in html
    call_command("migrate", verbosity=0)
    assert cards(client) == [("Vault", ["Security"])]


def test_search_results_draw_their_cards_with_the_words_highlighted(client):
    CaseStudyFactory(title="Vault", summary="Keys never leave the client.", tags=["Security"])
    html = client.get("/case-studies/?q=keys").content.decode()
    assert "<mark>Keys</mark> never leave the client." in html
    assert "<mark>" not in client.get("/case-studies/").content.decode()
