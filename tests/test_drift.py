"""Whatever authors do, in whatever order, every number a visitor sees is a recount.

A stateful property test: hypothesis drives random sequences of what happens to
the site (studies created, edited, published and unpublished one at a time and
in bulk, retagged, deleted and restored, imported from files; tags renamed and
merged; the clock passing a scheduled date). After every step an anonymous
visitor reads the public pages, with the page cache on, and each count, list
and link they show is compared with a recount from scratch of
`CaseStudy.objects.published()`; drafts and scheduled studies must show nowhere.

Only public pages, the admin, the models' public face, django-reversion and the
management commands are used: how the site keeps its counts is its own business.
Each example runs in a savepoint rolled back at its end, with the cache emptied,
so examples do not see each other; on-commit callbacks (the page cache's new
generation among them) run after every step, as a real commit would run them.
"""

import datetime
import itertools
import math
import os
import re
from collections import Counter

import pytest
import reversion
import time_machine
from bs4 import BeautifulSoup
from defusedxml import ElementTree
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django.utils.text import slugify
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from reversion.models import Version

from casestudies import socialcards
from casestudies.models import CaseStudy, Tag
from tests.factories import CaseStudyFactory

STUDIES = "/admin/casestudies/casestudy/"
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
SITE = "http://testserver"
# Parts of a page some checks do not read (see DriftMachine.visit).
HEAD = re.compile(r"<head>.*?</head>", re.DOTALL)
HEAD_AND_CARD_DETAILS = re.compile(
    r'<head>.*?</head>|<p class="card-summary">.*?</p>|<div class="card-meta">.*?</div>', re.DOTALL
)

TAGS = "/admin/casestudies/tag/"
# What the README promises: 12 studies a page, up to 12 facets, 3 related studies, 20 feed entries.
PER_PAGE = 12
MAX_FACETS = 12
RELATED = 3
FEED_ENTRIES = 20
LATEST_ON_HOME = 3
# How many two-tag filters each check reads (with 6 tags there are 15; each costs a page).
TWO_TAG_FILTERS = 5

VOCABULARY = ("Security", "Encryption", "Go", "Rust", "Ops", "Data")
# Names a tag may be renamed to, or typed in the admin: letters only, so that every
# database orders them as Python does.
OTHER_NAMES = ("Golang", "Crypto", "Infra", "Analytics", "Safety", "Cipher")
ALL_NAMES = VOCABULARY + OTHER_NAMES
# A fixed start, so that a failing sequence replays the same.
START = datetime.datetime(2025, 6, 2, 9, 0, tzinfo=datetime.UTC)

PUBLISHED, DRAFT = CaseStudy.Status.PUBLISHED, CaseStudy.Status.DRAFT
title_numbers = itertools.count(1)

tag_sets = st.sets(st.sampled_from(VOCABULARY), max_size=4).map(sorted)
typed_tag_sets = st.sets(st.sampled_from(ALL_NAMES), max_size=4).map(sorted)
indexes = st.integers(min_value=0, max_value=40)
minutes = st.integers(min_value=1, max_value=60 * 24 * 365)


def new_title():
    # Fixed width between delimiters: no title is part of another, so "appears nowhere" means it.
    return f"Drift-{next(title_numbers):06d}-study"


def study_path(slug):
    return f"/case-studies/{slug}/"


def form_data(html, form_id):
    """What a browser would send for the form `form_id` of an admin page, as it stands."""
    form = BeautifulSoup(html, "html.parser").find("form", id=form_id)
    assert form is not None, f"no form #{form_id} on the page"
    data = {}
    for field in form.find_all(["input", "textarea", "select"]):
        name = field.get("name")
        if not name or "__prefix__" in name:
            continue
        if field.name == "input":
            kind = field.get("type", "text")
            if kind in {"submit", "button", "image", "reset", "file"}:
                continue
            if kind in {"checkbox", "radio"} and not field.has_attr("checked"):
                continue
            value = field.get("value", "on" if kind in {"checkbox", "radio"} else "")
            data.setdefault(name, []).append(value)
        elif field.name == "textarea":
            # Django writes a newline after <textarea>, which browsers drop.
            data.setdefault(name, []).append(field.get_text().removeprefix("\r\n").removeprefix("\n"))
        else:
            options = field.find_all("option")
            chosen = [option for option in options if option.has_attr("selected")] or options[:1]
            data.setdefault(name, []).extend(option.get("value", option.get_text()) for option in chosen)
    return data


def counted(link):
    """A tag link's name and the number in its `.tag-count`."""
    return link.contents[0].strip(), int(link.select_one(".tag-count").contents[0])


def facets_of(soup):
    return [counted(link) for link in soup.select(".facets a.tag")]


def card_titles(soup):
    return [link.get_text(strip=True) for link in soup.select(".card-grid .card-title a")]


def card_tags(soup):
    return [
        [link.get_text(strip=True) for link in card.select(".tag-list a.tag")]
        for card in soup.select(".card-grid article.card")
    ]


def most_used_first(counts, names):
    """(name, count) for each tag id in `counts`, most used first, then by name ignoring case."""
    return sorted(
        ((names[tag_id], count) for tag_id, count in counts.items()),
        key=lambda item: (-item[1], item[0].lower(), item[0]),
    )


def pages_for(total):
    return max(1, math.ceil(total / PER_PAGE))


class Recount:
    """What the public may see, counted from scratch."""

    def __init__(self):
        self.public = list(CaseStudy.objects.published().with_tags().order_by("-published_at", "title"))
        public_ids = {study.pk for study in self.public}
        self.hidden = list(CaseStudy.objects.exclude(pk__in=public_ids).order_by("pk"))
        self.tag_ids = {study.pk: {tag.pk for tag in study.tag_list} for study in self.public}
        self.tags = {tag.pk: tag for tag in Tag.objects.all()}
        self.names = {pk: tag.name for pk, tag in self.tags.items()}
        self.per_tag = Counter(tag_id for ids in self.tag_ids.values() for tag_id in ids)

    def carrying(self, tag_ids):
        return [study for study in self.public if set(tag_ids) <= self.tag_ids[study.pk]]

    def facets(self, tag_ids):
        """The facet panel of the studies carrying all of `tag_ids`: their other tags, counted."""
        counts = Counter(
            other
            for study in self.carrying(tag_ids)
            for other in self.tag_ids[study.pk]
            if other not in tag_ids
        )
        return most_used_first(counts, self.names)[:MAX_FACETS]

    def related(self, study):
        mine = self.tag_ids[study.pk]
        ranked = [
            (len(mine & self.tag_ids[other.pk]), other)
            for other in self.public
            if other.pk != study.pk and mine & self.tag_ids[other.pk]
        ]
        ranked.sort(key=lambda item: (-item[0], -item[1].published_at.timestamp(), item[1].title))
        return [(other.title, shared) for shared, other in ranked[:RELATED]]


class DriftMachine(RuleBasedStateMachine):
    """Random authoring and clock moves; after each, the public pages against a recount.

    The test sets `visitor`, `admin_client`, `admin_user`, `on_commit` and `workdir`.
    """

    def __init__(self):
        super().__init__()
        # Everything this example writes is rolled back at its end (teardown).
        self.savepoint = transaction.atomic()
        self.savepoint.__enter__()
        # No page kept from an earlier example, and a new page-cache generation (as the README's
        # `rm var/cache-generation` makes one): the rollback was a change no signal told of.
        cache.clear()
        django_settings.PAGE_CACHE_GENERATION_FILE.unlink(missing_ok=True)
        self.traveller = time_machine.travel(START, tick=False)
        self.clock = self.traveller.start()
        self.imports = 0
        self.log_in()

    def teardown(self):
        try:
            transaction.set_rollback(True)
            self.savepoint.__exit__(None, None, None)
        finally:
            self.traveller.stop()
            cache.clear()

    # Helpers

    def log_in(self):
        # Again after the clock moves: staff sessions end after 8 hours.
        self.admin_client.force_login(self.admin_user)

    def committed(self):
        """Run what waits for the commit (a new page-cache generation...) at the end of the block."""
        return self.on_commit(execute=True)

    def admin_post(self, url, data):
        with self.committed():
            response = self.admin_client.post(url, data)
        form = response.context and response.context.get("adminform")
        assert response.status_code == 302, f"{url}: {response.status_code} {form and form.errors}"
        assert "/login/" not in response["Location"], "the admin session ended"
        return response

    def admin_form(self, url, form_id):
        response = self.admin_client.get(url)
        assert response.status_code == 200, url
        return form_data(response.content.decode(), form_id)

    @staticmethod
    def pick(queryset, index):
        items = list(queryset.order_by("pk"))
        return items[index % len(items)] if items else None

    @staticmethod
    def pick_many(queryset, picks):
        items = list(queryset.order_by("pk"))
        return list({items[index % len(items)].pk: items[index % len(items)] for index in picks}.values())

    def date(self, future, minutes):
        return timezone.now() + datetime.timedelta(minutes=minutes if future else -minutes)

    # Rules

    @initialize(
        public=st.sampled_from([0, 3, PER_PAGE + 1]),
        studies=st.lists(st.tuples(st.sampled_from(["draft", "scheduled"]), minutes, tag_sets), max_size=3),
    )
    def start_with(self, public, studies):
        """Some studies to begin with: public ones, sometimes more than a page, then others."""
        for number in range(public):
            tags = [VOCABULARY[number % len(VOCABULARY)], VOCABULARY[number * 2 % len(VOCABULARY)]]
            self.create_study(True, False, 60 * (number + 1), tags, kept=False)
        for kind, offset, tags in studies:
            self.create_study(kind == "scheduled", kind == "scheduled", offset, tags, kept=False)

    @rule(published=st.booleans(), future=st.booleans(), minutes=minutes, tags=tag_sets, kept=st.booleans())
    def create_study(self, published, future, minutes, tags, kept):
        with self.committed():
            study = CaseStudyFactory(
                title=new_title(),
                status=PUBLISHED if published else DRAFT,
                published_at=self.date(future, minutes),
                tags=tags,
            )
            if kept:
                # As an admin save or an import would: a revision to restore it from once deleted.
                with reversion.create_revision():
                    reversion.add_to_revision(study)

    @precondition(lambda self: CaseStudy.objects.exists())
    @rule(index=indexes, retitle=st.booleans(), tags=st.none() | typed_tag_sets)
    def edit_in_admin(self, index, retitle, tags):
        study = self.pick(CaseStudy.objects.all(), index)
        url = f"{STUDIES}{study.pk}/change/"
        data = self.admin_form(url, "casestudy_form")
        if retitle or tags is None:
            data["title"] = [new_title()]
        if tags is not None:
            data["tags"] = [", ".join(tags)]
        self.admin_post(url, data)

    @precondition(lambda self: CaseStudy.objects.exists())
    @rule(index=indexes, publish=st.booleans())
    def set_status_in_admin(self, index, publish):
        study = self.pick(CaseStudy.objects.all(), index)
        url = f"{STUDIES}{study.pk}/change/"
        data = self.admin_form(url, "casestudy_form")
        data["status"] = [PUBLISHED if publish else DRAFT]
        self.admin_post(url, data)
        assert CaseStudy.objects.get(pk=study.pk).status == data["status"][0]

    @precondition(lambda self: CaseStudy.objects.filter(status=DRAFT).exists())
    @rule(picks=st.lists(indexes, min_size=1, max_size=3))
    def publish_in_bulk(self, picks):
        chosen = self.pick_many(CaseStudy.objects.filter(status=DRAFT), picks)
        ids = [study.pk for study in chosen]
        self.admin_post(f"{STUDIES}?status__exact=draft", {"action": "publish", "_selected_action": ids})
        assert set(CaseStudy.objects.filter(pk__in=ids).values_list("status", flat=True)) == {PUBLISHED}

    @precondition(lambda self: CaseStudy.objects.filter(status=PUBLISHED).exists())
    @rule(picks=st.lists(indexes, min_size=1, max_size=3))
    def unpublish_in_bulk(self, picks):
        chosen = self.pick_many(CaseStudy.objects.filter(status=PUBLISHED), picks)
        ids = [study.pk for study in chosen]
        self.admin_post(
            f"{STUDIES}?status__exact=published", {"action": "unpublish", "_selected_action": ids}
        )
        assert set(CaseStudy.objects.filter(pk__in=ids).values_list("status", flat=True)) == {DRAFT}

    @precondition(lambda self: CaseStudy.objects.exists())
    @rule(index=indexes, how=st.sampled_from(["set", "add", "remove"]), tags=typed_tag_sets)
    def retag(self, index, how, tags):
        study = self.pick(CaseStudy.objects.all(), index)
        with self.committed():
            if how == "set":
                study.tags.set(tags)
            elif how == "add":
                study.tags.add(*tags)
            else:
                # The study's own tags by name, whatever they are called now.
                names = {name.lower() for name in tags}
                study.tags.remove(*[tag for tag in study.tags.all() if tag.name.lower() in names])

    @precondition(lambda self: Tag.objects.exists())
    @rule(index=indexes, name=st.sampled_from(ALL_NAMES))
    def rename_tag(self, index, name):
        tag = self.pick(Tag.objects.all(), index)
        taken = {name.lower() for name in Tag.objects.exclude(pk=tag.pk).values_list("name", flat=True)}
        taken |= set(Tag.objects.exclude(pk=tag.pk).values_list("slug", flat=True))
        if name.lower() in taken or slugify(name) in taken:
            return
        url = f"{TAGS}{tag.pk}/change/"
        data = self.admin_form(url, "tag_form")
        data["name"], data["slug"] = [name], [slugify(name)]
        self.admin_post(url, data)

    @precondition(lambda self: Tag.objects.count() >= 2)
    @rule(picks=st.lists(indexes, min_size=2, max_size=3), into=indexes)
    def merge_tags(self, picks, into):
        chosen = self.pick_many(Tag.objects.all(), picks)
        if len(chosen) < 2:
            chosen = list(Tag.objects.order_by("pk")[:2])
        target = chosen[into % len(chosen)]
        self.admin_post(
            TAGS,
            {"action": "merge", "_selected_action": [tag.pk for tag in chosen], "merge_into": target.pk},
        )
        assert set(Tag.objects.filter(pk__in=[tag.pk for tag in chosen]).values_list("pk", flat=True)) == {
            target.pk
        }

    @precondition(lambda self: CaseStudy.objects.exists())
    @rule(index=indexes, in_admin=st.booleans())
    def delete_study(self, index, in_admin):
        study = self.pick(CaseStudy.objects.all(), index)
        if in_admin:
            self.admin_post(f"{STUDIES}{study.pk}/delete/", {"post": "yes"})
        else:
            with self.committed():
                study.delete()
        assert not CaseStudy.objects.filter(pk=study.pk).exists()

    @precondition(lambda self: Version.objects.get_deleted(CaseStudy).exists())
    @rule(index=indexes, in_admin=st.booleans())
    def restore_deleted_study(self, index, in_admin):
        version = self.pick(Version.objects.get_deleted(CaseStudy), index)
        if in_admin:
            url = f"{STUDIES}recover/{version.pk}/"
            self.admin_post(url, self.admin_form(url, "casestudy_form"))
        else:
            with self.committed():
                version.revision.revert()
        assert CaseStudy.objects.filter(pk=version.object_id).exists()

    @rule(
        edit=st.none() | st.tuples(indexes, st.none() | st.sampled_from([PUBLISHED, DRAFT]), typed_tag_sets),
        new=st.none() | st.tuples(st.sampled_from([PUBLISHED, DRAFT]), st.booleans(), minutes, tag_sets),
    )
    def import_files(self, edit, new):
        """Export every study, change one file and add another, import the directory."""
        self.imports += 1
        directory = self.workdir / f"import-{id(self)}-{self.imports}"
        call_command("export_studies", str(directory), verbosity=0)
        if edit is not None and CaseStudy.objects.exists():
            index, status, tags = edit
            study = self.pick(CaseStudy.objects.all(), index)
            path = directory / f"{study.slug}.md"
            text = path.read_text(encoding="utf-8")
            text = re.sub(r"(?m)^title: .*$", f"title: {new_title()}", text, count=1)
            if status is not None:
                text = re.sub(r"(?m)^status: .*$", f"status: {status}", text, count=1)
            text = re.sub(r"(?m)^tags: .*\n", "", text, count=1)
            if tags:
                text = re.sub(r"(?m)^(summary: .*\n)", rf"\1tags: [{', '.join(tags)}]\n", text, count=1)
            path.write_text(text, encoding="utf-8")
        if new is not None:
            status, future, offset, tags = new
            title = new_title()
            moment = self.date(future, offset).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines = ["---", f"title: {title}", f"slug: {slugify(title)}", f"summary: How {title} went."]
            if tags:
                lines.append(f"tags: [{', '.join(tags)}]")
            lines += [f"status: {status}", f"published_at: {moment}", "---", "## Context", "", "Imported."]
            (directory / f"{slugify(title)}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        with self.committed():
            call_command("import_studies", str(directory), verbosity=0)

    @precondition(
        lambda self: CaseStudy.objects.filter(status=PUBLISHED, published_at__gt=timezone.now()).exists()
    )
    @rule()
    def clock_passes_the_next_scheduled_date(self):
        due = (
            CaseStudy.objects.filter(status=PUBLISHED, published_at__gt=timezone.now())
            .order_by("published_at")
            .first()
        )
        self.clock.move_to(due.published_at + datetime.timedelta(seconds=1))
        assert due.is_public
        self.log_in()

    # What a visitor sees

    def fetch(self, url, status=200):
        """The text of a public page as the visitor gets it (kept, to look for hidden studies in)."""
        response = self.response = self.visitor.get(url)
        assert response.status_code == status, f"{url} answered {response.status_code}, not {status}"
        text = response.content.decode()
        if status == 200:
            self.seen.append((url, text))
        return text

    def visit(self, url, status=200, skipping=HEAD):
        """A public page, parsed; what `skipping` matches is left out (parsing is most of a check's time)."""
        return BeautifulSoup(re.sub(skipping, "", self.fetch(url, status)), "html.parser")

    def visit_xml(self, url):
        return ElementTree.fromstring(self.fetch(url))

    @invariant()
    def public_pages_agree_with_a_recount(self):
        self.seen = []
        counts = Recount()
        assert "sessionid" not in self.visitor.cookies, "the visitor must not have a session"
        self.check_home_and_list(counts)
        self.check_tag_index_and_filters(counts)
        self.check_study_pages(counts)
        self.check_feed_and_sitemaps(counts)
        self.check_nothing_hidden_shows(counts)

    def check_home_and_list(self, counts):
        titles = [study.title for study in counts.public]
        assert card_titles(self.visit("/")) == titles[:LATEST_ON_HOME]
        pages = pages_for(len(titles))
        shown, tags_shown = [], []
        for number in range(1, pages + 1):
            soup = self.visit("/case-studies/" + (f"?page={number}" if number > 1 else ""))
            # The page cache is on: these pages are kept, and must be dropped at every change.
            assert "public" in self.response["Cache-Control"]
            status = soup.select_one(".pagination-status")
            if pages > 1:
                assert status.get_text(strip=True) == f"Page {number} of {pages}"
            else:
                assert status is None
            if number == 1:
                assert facets_of(soup) == most_used_first(counts.per_tag, counts.names)[:MAX_FACETS]
            shown += card_titles(soup)
            tags_shown += card_tags(soup)
        self.visit(f"/case-studies/?page={pages + 1}", status=404)
        assert shown == titles
        assert tags_shown == [[tag.name for tag in study.tag_list] for study in counts.public]

    def check_tag_index_and_filters(self, counts):
        soup = self.visit("/tags/")
        index = [counted(link) for link in soup.select(".tag-index a")]
        assert index == most_used_first(counts.per_tag, counts.names)
        in_use = sorted(counts.per_tag, key=lambda pk: counts.tags[pk].slug)
        for tag_id in in_use:
            self.check_filter(counts, [tag_id])
        for pair in self.some_pairs(counts, in_use):
            self.check_filter(counts, pair)
        for tag_id, tag in counts.tags.items():
            if tag_id not in counts.per_tag:
                # Only drafts, scheduled studies or nothing carry it: not to be named on a public page.
                self.visit(f"/case-studies/?tag={tag.slug}", status=404)

    @staticmethod
    def some_pairs(counts, in_use):
        """Two-tag filters: those with the most public studies, and one with none if there is one."""
        pairs = [list(pair) for pair in itertools.combinations(in_use, 2)]
        together = {tuple(pair): len(counts.carrying(pair)) for pair in pairs}
        found = sorted((pair for pair in pairs if together[tuple(pair)]), key=lambda p: -together[tuple(p)])
        apart = [pair for pair in pairs if not together[tuple(pair)]]
        return found[:TWO_TAG_FILTERS] + apart[:1]

    def check_filter(self, counts, tag_ids):
        query = "&".join(f"tag={slug}" for slug in sorted(counts.tags[pk].slug for pk in tag_ids))
        url = f"/case-studies/?{query}"
        soup = self.visit(url, skipping=HEAD_AND_CARD_DETAILS)
        carrying = counts.carrying(tag_ids)
        heading = soup.select_one(".filter-heading").get_text(" ", strip=True)
        assert int(heading.split()[0]) == len(carrying), f"{url}: {heading}"
        assert facets_of(soup) == counts.facets(tag_ids), url
        assert card_titles(soup) == [study.title for study in carrying[:PER_PAGE]], url
        status = soup.select_one(".pagination-status")
        if len(carrying) > PER_PAGE:
            assert status.get_text(strip=True) == f"Page 1 of {pages_for(len(carrying))}", url
        else:
            assert status is None, url

    def check_study_pages(self, counts):
        public = counts.public
        for position, study in enumerate(public):
            soup = self.visit(study_path(study.slug))
            assert soup.select_one("h1").get_text(strip=True) == study.title
            shown_tags = [link.get_text(strip=True) for link in soup.select(".study-header .tag-list a.tag")]
            assert shown_tags == [tag.name for tag in study.tag_list]
            related = [
                (
                    item.select_one("a").get_text(strip=True),
                    item.select_one(".related-meta").get_text(strip=True),
                )
                for item in soup.select(".related-list li")
            ]
            expected = [
                (title, f"{shared} shared tag{'s' if shared != 1 else ''}")
                for title, shared in counts.related(study)
            ]
            assert related == expected, study.title
            newer = soup.select_one(".pager-newer")
            older = soup.select_one(".pager-older")
            expected_newer = public[position - 1] if position > 0 else None
            expected_older = public[position + 1] if position + 1 < len(public) else None
            assert (newer and newer["href"]) == (expected_newer and study_path(expected_newer.slug))
            assert (older and older["href"]) == (expected_older and study_path(expected_older.slug))

    def check_feed_and_sitemaps(self, counts):
        feed = self.visit_xml("/case-studies/feed/")
        titles = [entry.findtext(f"{ATOM}title") for entry in feed.iter(f"{ATOM}entry")]
        assert titles == [study.title for study in counts.public][:FEED_ENTRIES]
        studies = self.visit_xml("/sitemap-studies.xml")
        locations = [loc.text.removeprefix(SITE) for loc in studies.iter(f"{SITEMAP}loc")]
        assert sorted(locations) == sorted(study_path(study.slug) for study in counts.public)
        tags = self.visit_xml("/sitemap-tags.xml")
        locations = {loc.text.removeprefix(SITE) for loc in tags.iter(f"{SITEMAP}loc")}
        assert locations == {f"/case-studies/?tag={counts.tags[pk].slug}" for pk in counts.per_tag}

    def check_nothing_hidden_shows(self, counts):
        for study in counts.hidden:
            self.visit(study_path(study.slug), status=404)
            for url, html in self.seen:
                assert study.title not in html, f"{study.title} ({study.status}) shows on {url}"
                assert study_path(study.slug) not in html, f"{study.slug} ({study.status}) shows on {url}"


@pytest.mark.django_db
def test_public_pages_always_agree_with_a_recount(
    settings, monkeypatch, django_user_model, django_capture_on_commit_callbacks, tmp_path
):
    # On for this test: it proves too that every kind of change drops the stored pages.
    settings.PAGE_CACHE_SECONDS = 600
    # Share images show no count and take a fifth of the run to draw: a stand-in PNG.
    monkeypatch.setattr(socialcards, "draw_card", lambda content: b"\x89PNG")
    admin_user = django_user_model.objects.create_superuser("drift", "drift@example.com", "a long passphrase")

    class Machine(DriftMachine):
        pass

    Machine.visitor = Client()
    Machine.admin_client = Client()
    Machine.admin_user = admin_user
    Machine.on_commit = staticmethod(django_capture_on_commit_callbacks)
    Machine.workdir = tmp_path

    run_state_machine_as_test(
        Machine,
        settings=hypothesis_settings(
            # `make test-fast` (HYPOTHESIS_PROFILE=fast) tries half the sequences a run; `make test` all.
            max_examples=10 if os.environ.get("HYPOTHESIS_PROFILE") == "fast" else 20,
            stateful_step_count=12,
            deadline=None,
            database=None,
            # No explain phase: it replays every failure again many times, to name lines of bs4.
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
