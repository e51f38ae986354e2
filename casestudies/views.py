import re

from django.core.paginator import Page, Paginator
from django.db.models import Count, IntegerField, Subquery
from django.db.models.functions import Lower
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers

from casestudies import cards, tagcounts
from casestudies.filters import BadFilter, StudyFilter
from casestudies.models import CaseStudy, SlugRedirect, Tag

STUDIES_PER_PAGE = 12
LATEST_ON_HOME = 3
RELATED_STUDIES = 3
# The facet panel lists the most used tags; /tags/ lists them all.
MAX_FACETS = 12
PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,5}")


def home(request):
    latest = CaseStudy.objects.published().for_cards()[:LATEST_ON_HOME]
    return render(request, "casestudies/home.html", {"latest": latest})


def study_list(request):
    try:
        study_filter = StudyFilter.from_params(request.GET)
    except BadFilter as problem:
        return render(request, "400.html", {"message": str(problem)}, status=400)
    if not study_filter.is_spelled_as(request.GET):
        return redirect(study_filter.url(page=request.GET.get("page")), permanent=True)

    tags_by_slug = study_filter.named_tags()

    studies = study_filter.apply(CaseStudy.objects.published())
    # The total of all studies, of one tag or of two, is kept at save time; other filters
    # count their studies.
    total = None
    if study_filter.is_everything:
        total = tagcounts.all_public_studies()
    elif study_filter.is_tags_only:
        total = tagcounts.public_studies_of([tags_by_slug[slug] for slug in study_filter.tags])
    page = paginate(studies.card_fields(), request.GET.get("page"), total)
    return render(
        request,
        "casestudies/list.html",
        {
            "page": page,
            "cards": cards.for_list(page.object_list, study_filter.query),
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
            "facets": [] if study_filter.match_any else facets(studies, study_filter, tags_by_slug),
            "previous_page_url": page.has_previous() and study_filter.url(page.previous_page_number()),
            "next_page_url": page.has_next() and study_filter.url(page.next_page_number()),
        },
    )


def facets(studies, study_filter, tags_by_slug):
    """Other tags among the filtered studies, with how many carry each; each link narrows (AND)."""
    # Among all public studies, or those of one tag or two: the counts kept at save
    # time, rather than counting the links of thousands of studies.
    if study_filter.is_everything:
        tags = tagcounts.tags_in_public_use(limit=MAX_FACETS)
    elif study_filter.is_tags_only and len(study_filter.tags) <= 2:
        tags = tagcounts.tags_found_with([tags_by_slug[slug] for slug in study_filter.tags], limit=MAX_FACETS)
    else:
        tags = (
            Tag.objects.filter(tagged_studies__content_object__in=studies.order_by().values("pk"))
            .exclude(slug__in=study_filter.all_slugs)
            .annotate(study_count=Count("tagged_studies"))
            .order_by("-study_count", Lower("name"), "name")[:MAX_FACETS]
        )
    return [
        {"tag": tag, "count": tag.study_count, "url": study_filter.with_tag(tag.slug).url()} for tag in tags
    ]


def tag_index(request):
    return render(request, "casestudies/tags.html", {"tags": tagcounts.tags_in_public_use()})


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
    """Studies with what their page shows with them: tags and outcomes."""
    return studies.with_tags().prefetch_related("outcomes")


def study_page_context(study):
    related = study.related(RELATED_STUDIES)
    newer, older = study.neighbours()
    return {"study": study, "related": related, "newer": newer, "older": older}


def can_preview(user):
    """Staff who may view studies in the admin may also read drafts on the site."""
    return user.is_active and user.is_staff and user.has_perm("casestudies.view_casestudy")


class CountOf(Subquery):
    """How many rows a queryset has, as a value each row of another query can carry."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) AS counted)"
    output_field = IntegerField()

    def __init__(self, queryset):
        super().__init__(queryset.order_by().values("pk"))


def paginate(queryset, page_param, total=None):
    """The requested page; anything but a page that exists is a 404.

    The page's rows carry the total count (a scalar subquery, which the database
    counts once, from an index, unless `total` gives a cheaper expression), so a
    page costs one query where Paginator would spend two.
    """
    if page_param is None:
        number = 1
    elif PAGE_NUMBER.fullmatch(page_param):
        number = int(page_param)
    else:
        raise Http404("No such page.")
    start = (number - 1) * STUDIES_PER_PAGE
    counted = queryset.annotate(total_count=CountOf(queryset) if total is None else total)
    rows = list(counted[start : start + STUDIES_PER_PAGE])
    if not rows and number > 1:
        raise Http404("No such page.")
    paginator = Paginator(queryset, STUDIES_PER_PAGE)
    paginator.count = rows[0].total_count if rows else 0
    return Page(rows, number, paginator)
