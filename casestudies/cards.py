"""Each study's card on the list, drawn when what it shows changes, not on every request.

A card (includes/card.html) shows a study's title, summary, date and tags; a list
page is twelve of them, and drawing them through the template engine was most of
what an uncached list page cost. So each study keeps its card's HTML
(`card_html`), drawn again in the same transaction as any change to what the card
shows: the study saved, a tag added or taken away, a tag renamed or merged (the
moments the search index follows too).

`card_key` says what drew a stored card: the card templates, the addresses it
links to and the time zone its date is shown in. After a release that changes
any of them, `migrate` draws every card again; until it has, the list draws an
out-of-date card afresh, so a visitor never sees one.
"""

import functools
import hashlib

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Prefetch, prefetch_related_objects
from django.db.models.signals import post_migrate
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe

from casestudies import studychanges
from casestudies.models import CaseStudy, TaggedCaseStudy
from casestudies.search import highlight

TEMPLATES = ("includes/card.html", "includes/tag_list.html")
# The list's cards are headed h2 (the home page draws its three with h3).
LIST_HEADING_LEVEL = 2
BATCH_SIZE = 500


@functools.cache
def current_key():
    """A digest of what a card's HTML depends on besides the study."""
    sources = [get_template(name).template.source for name in TEMPLATES]
    # The addresses a card links to: the study's own and the list filtered by a tag.
    addresses = [reverse("casestudies:detail", args=["slug"]), reverse("casestudies:list")]
    return hashlib.sha256("\0".join([*sources, *addresses, settings.TIME_ZONE]).encode()).hexdigest()[:16]


def draw(study, query=""):
    """A card drawn now; with search words, they are highlighted in the summary."""
    if query:
        study.summary_html = highlight(study.summary, query)
    return render_to_string(TEMPLATES[0], {"study": study, "level": LIST_HEADING_LEVEL})


def for_list(studies, query=""):
    """The cards of a list page, in order: stored ones when current, else drawn now."""
    key = current_key()
    to_draw = [study for study in studies if query or study.card_key != key]
    # Only the cards drawn now need their tags (one query for all of them).
    prefetch_related_objects(
        to_draw, Prefetch("tag_links", queryset=TaggedCaseStudy.objects.select_related("tag"))
    )
    drawn = {study.pk: draw(study, query) for study in to_draw}
    # A stored card was drawn by the same template, autoescaped, as `draw` does now.
    return [drawn.get(study.pk) or mark_safe(study.card_html) for study in studies]  # noqa: S308


def redraw(study_ids, *, using=DEFAULT_DB_ALIAS):
    """Draw and store the cards of the given studies."""
    key = current_key()
    study_ids = list(study_ids)
    for start in range(0, len(study_ids), BATCH_SIZE):
        batch = study_ids[start : start + BATCH_SIZE]
        for study in (
            CaseStudy.objects.using(using).filter(pk__in=batch).defer("body", "body_html").with_tags()
        ):
            CaseStudy.objects.using(using).filter(pk=study.pk).update(card_html=draw(study), card_key=key)


def redraw_out_of_date(sender=None, using=DEFAULT_DB_ALIAS, **kwargs):
    """After migrate: the cards a release's templates or settings have left behind."""
    stale = CaseStudy.objects.using(using).exclude(card_key=current_key()).values_list("pk", flat=True)
    redraw(stale.iterator(), using=using)


def connect_receivers(app_config):
    """Called from CaseStudiesConfig.ready()."""
    studychanges.follow(redraw, name="cards")
    post_migrate.connect(redraw_out_of_date, sender=app_config, dispatch_uid="cards.after_migrate")
