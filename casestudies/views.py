import re

from django.core.paginator import Page, Paginator
from django.db.models import IntegerField, Subquery, prefetch_related_objects
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import mark_safe

from casestudies.filters import BadFilter, StudyFilter, tags_in_public_use
from casestudies.images import PROSE_SIZES
from casestudies.models import CaseStudy, CaseStudyQuerySet, SlugRedirect, tag_links
from casestudies.search import highlight
from portfolio import pagecache

STUDIES_PER_PAGE = 12
LATEST_ON_HOME = 3
RELATED_STUDIES = 3
# The facet panel lists the most used tags; /tags/ lists them all.
MAX_FACETS = 12
PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,5}")
# A bound on how long a drawn card is kept, whatever else happens to the cache.
CARD_SECONDS = 24 * 60 * 60
# How wide a card's cover is drawn (static/css/site.css): the .card-grid, in a 72rem .wrap
# less 1.5rem margins, has one column on a screen under 44.5rem, two under 66rem, then three.
CARD_COVER_SIZES = (
    "(min-width: 72rem) 22rem, (min-width: 66rem) calc(33.3vw - 2rem), "
    "(min-width: 44.5rem) calc(50vw - 2.25rem), calc(100vw - 3rem)"
)


def home(request):
    latest = list(CaseStudy.objects.published().card_fields()[:LATEST_ON_HOME])
    return render(request, "casestudies/home.html", {"cards": draw_cards(latest, level=3)})


def study_list(request):
    try:
        study_filter = StudyFilter.from_params(request.GET)
    except BadFilter as problem:
        return render(request, "400.html", {"message": str(problem)}, status=400)
    if not study_filter.is_spelled_as(request.GET):
        return redirect(study_filter.url(page=request.GET.get("page")), permanent=True)

    tags_by_slug = study_filter.named_tags()
    studies = study_filter.apply(CaseStudy.objects.published())
    page = paginate(studies.card_fields(), request.GET.get("page"))
    return render(
        request,
        "casestudies/list.html",
        {
            "page": page,
            "cards": draw_cards(page.object_list, study_filter.query),
            "filter": study_filter,
            "filter_description": study_filter.describe(tags_by_slug),
            "clear_search_url": study_filter.query and study_filter.without_query().url(),
            "active_tags": [
                {"tag": tags_by_slug[slug], "remove_url": study_filter.without_tag(slug).url()}
                for slug in study_filter.tags
            ],
            "excluded_tags": [
                {"tag": tags_by_slug[slug], "remove_url": study_filter.without_exclusion(slug).url()}
                for slug in study_filter.exclude
            ],
            "facets": [] if study_filter.match_any else facets(studies, study_filter),
            "previous_page_url": page.has_previous() and study_filter.url(page.previous_page_number()),
            "next_page_url": page.has_next() and study_filter.url(page.next_page_number()),
        },
    )


def draw_cards(studies, query="", level=2):
    """Cards of studies, with headings of `level`: drawing twelve through the template engine
    is most of what a list page costs, so each is kept for the content generation. A
    search's are drawn each time, with the words it found marked."""

    def draw(studies):
        prefetch_related_objects(studies, tag_links(), CaseStudyQuerySet.cover_images())
        for study in studies:
            if query:
                study.summary_html = highlight(study.summary, query)
            cover = study.cover
            # The title beside it names the study: to a screen reader the cover is decoration.
            picture = cover.picture_html(CARD_COVER_SIZES, alt="") if cover else ""
            yield render_to_string("includes/card.html", {"study": study, "level": level, "cover": picture})

    if query:
        return list(draw(studies))
    # Card links are written under the script prefix; templates are part of the code version.
    prefix = f"casestudies:card:{pagecache.code_version()}:{get_script_prefix()}:{level}"
    by_key = {f"{prefix}:{study.pk}": study for study in studies}
    cards = pagecache.remember_each(
        list(by_key),
        lambda keys: dict(zip(keys, draw([by_key[key] for key in keys]), strict=True)),
        CARD_SECONDS,
    )
    # Each was drawn by the template above, autoescaped.
    return [mark_safe(cards[key]) for key in by_key]  # noqa: S308


def facets(studies, study_filter):
    """Other tags among the filtered studies, with how many carry each; each link narrows (AND)."""
    if study_filter.is_everything:
        tags = tags_in_public_use()[:MAX_FACETS]
    else:
        tags = studies.tag_counts().exclude(slug__in=study_filter.all_slugs)[:MAX_FACETS]
    return [
        {"tag": tag, "count": tag.study_count, "url": study_filter.with_tag(tag.slug).url()} for tag in tags
    ]


def tag_index(request):
    return render(request, "casestudies/tags.html", {"tags": tags_in_public_use()})


def study_detail(request, slug):
    if slug != slug.lower():
        return redirect("casestudies:detail", slug=slug.lower(), permanent=True)
    visible = CaseStudy.objects.all() if can_preview(request.user) else CaseStudy.objects.published()
    study = for_study_page(visible).filter(slug=slug).first()
    if study is None:
        # An address the study had before its slug changed keeps working.
        renamed = get_object_or_404(SlugRedirect.objects.select_related("study"), old_slug=slug).study
        get_object_or_404(visible, pk=renamed.pk)
        return redirect(renamed, permanent=True)
    response = render(request, "casestudies/detail.html", study_page_context(study))
    if not study.is_public:
        # A preview must never be kept by a browser or a shared cache.
        add_never_cache_headers(response)
    return response


def for_study_page(studies):
    """Studies with what their page shows with them: tags, cover and outcomes."""
    return studies.with_tags().with_cover().prefetch_related("outcomes")


def study_page_context(study):
    public = CaseStudy.objects.published()
    newer, older = public.neighbours_of(study)
    related = public.related_to(study, RELATED_STUDIES)
    cover = study.cover
    return {
        "study": study,
        "related": related,
        "newer": newer,
        "older": older,
        "cover": cover,
        # The first thing the page shows, in the body's column: fetched at once, first.
        "cover_picture": cover.picture_html(PROSE_SIZES, eager=True) if cover else "",
    }


def can_preview(user):
    """Staff who may view studies in the admin may also read drafts on the site."""
    return user.is_active and user.is_staff and user.has_perm("casestudies.view_casestudy")


class CountOf(Subquery):
    """How many rows a queryset has, as a value each row of another query can carry."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS counted)"
    output_field = IntegerField()

    def __init__(self, queryset):
        super().__init__(queryset.order_by().values("pk"))


def paginate(queryset, page_param):
    """The requested page; anything but a page that exists is a 404.

    The page's rows carry the total count (a scalar subquery, which the database
    counts once, from an index), so a page costs one query where Paginator would
    spend two.
    """
    if page_param is None:
        number = 1
    elif PAGE_NUMBER.fullmatch(page_param):
        number = int(page_param)
    else:
        raise Http404("No such page.")
    start = (number - 1) * STUDIES_PER_PAGE
    counted = queryset.annotate(total_count=CountOf(queryset))
    rows = list(counted[start : start + STUDIES_PER_PAGE])
    if not rows and number > 1:
        raise Http404("No such page.")
    paginator = Paginator(queryset, STUDIES_PER_PAGE)
    paginator.count = rows[0].total_count if rows else 0
    return Page(rows, number, paginator)
