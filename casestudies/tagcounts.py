"""How many published studies carry each tag, each pair and each triple of tags, kept at save time.

The list's "Browse by tag" panel and /tags/ read the tag's own column; a one-tag
list reads that tag's pairs (TagPair) for its total and its facets, and a
two-tag list the pair's count for its total and the pair's triples (TagTriple)
for its facets, instead of counting the links of thousands of studies on each
request. All are written in the same transaction as the change they follow,
like the search index, so they never disagree with a committed study.

The counts include studies whose status is published, whatever their date: a
study dated in the future becomes public at that moment with no save to count
it. So readers subtract the studies still waiting for their date, which are few
and found through the date index.
"""

from django.db import connection, connections
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_delete
from django.utils import timezone

from casestudies.models import CaseStudy, Tag, TaggedCaseStudy, TagPair, TagTriple


def links_per_tag(links):
    """The number of `links` of the outer query's tag, as a subquery."""
    return Subquery(links.filter(tag=OuterRef("pk")).values("tag").annotate(n=Count("pk")).values("n"))


def recount(tag_ids=None, *, using="default"):
    """Count again the published studies of the given tags, and of their pairs and triples (all when None).

    A change to one study changes only the pairs and triples among its own tags,
    so callers pass those; a popular tag's pairs with every other tag are not
    counted again.
    """
    tags = Tag.objects.using(using)
    links = TaggedCaseStudy.objects.using(using).filter(content_object__status=CaseStudy.Status.PUBLISHED)
    pairs = TagPair.objects.using(using)
    if tag_ids is not None:
        tag_ids = set(tag_ids)
        tags = tags.filter(pk__in=tag_ids)
        pairs = pairs.filter(tag__in=tag_ids, other__in=tag_ids)
    tags.update(published_studies=Coalesce(links_per_tag(links), 0))

    # Each link with each other tag of its study: the pair (tag, other), counted per study.
    counted = links.annotate(other=F("content_object__tag_links__tag")).exclude(other=F("tag"))
    if tag_ids is not None:
        counted = counted.filter(tag__in=tag_ids, other__in=tag_ids)
    counted = counted.order_by().values_list("tag", "other").annotate(n=Count("pk"))
    pairs.delete()
    TagPair.objects.using(using).bulk_create(
        (TagPair(tag_id=tag, other_id=other, published_studies=n) for tag, other, n in counted.iterator()),
        batch_size=1000,
    )
    recount_triples(tag_ids, using=using)


def recount_triples(tag_ids, *, using):
    """Count again the triples of the given tags (all when None): two of a pair and a third."""
    triples = TagTriple.objects.using(using)
    within, params = "", []
    if tag_ids is not None:
        triples = triples.filter(first__in=tag_ids, second__in=tag_ids, other__in=tag_ids)
        ids = sorted(tag_ids)
        if not ids:
            return
        placeholders = ", ".join(["%s"] * len(ids))
        within = " ".join(f"AND {link}.tag_id IN ({placeholders})" for link in "abc")
        params = ids * 3
    triples.delete()
    quote = connections[using].ops.quote_name
    links, studies = quote(TaggedCaseStudy._meta.db_table), quote(CaseStudy._meta.db_table)
    # Each study's links three times over: its pairs in id order, and each other tag of it.
    # Names come from the models; values are parameters.
    sql = (
        f"INSERT INTO {quote(TagTriple._meta.db_table)} (first_id, second_id, other_id, published_studies) "  # noqa: S608
        f"SELECT a.tag_id, b.tag_id, c.tag_id, COUNT(*) FROM {links} a "
        f"JOIN {links} b ON b.content_object_id = a.content_object_id AND b.tag_id > a.tag_id "
        f"JOIN {links} c ON c.content_object_id = a.content_object_id AND c.tag_id <> a.tag_id "
        "AND c.tag_id <> b.tag_id "
        f"JOIN {studies} study ON study.id = a.content_object_id AND study.status = %s "
        f"WHERE 1 = 1 {within} GROUP BY a.tag_id, b.tag_id, c.tag_id"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [CaseStudy.Status.PUBLISHED, *params])


def waiting_links():
    """Links of the studies published but still waiting for their date."""
    return TaggedCaseStudy.objects.filter(
        content_object__status=CaseStudy.Status.PUBLISHED,
        content_object__published_at__gt=timezone.now(),
    ).order_by()


def public_studies_of(tags):
    """How many public studies carry every one of `tags`, as a value a query can carry.

    Read from the kept counts for one tag or two (their waiting studies subtracted);
    None for more, which the caller counts.
    """
    waiting = waiting_links()
    if len(tags) == 1:
        kept = Value(tags[0].published_studies)
        waiting = waiting.filter(tag=tags[0])
    elif len(tags) == 2:
        pair = TagPair.objects.filter(tag=tags[0], other=tags[1])
        kept = Coalesce(Subquery(pair.values("published_studies")), 0)
        waiting = waiting.filter(tag=tags[0], content_object__tag_links__tag=tags[1])
    else:
        return None
    waiting_count = Subquery(waiting.values("tag").annotate(n=Count("pk")).values("n"))
    return kept - Coalesce(waiting_count, 0)


def tags_found_with(tags, limit):
    """The other tags of the public studies carrying all of `tags` (one tag or two), most
    common first, each with `study_count`; read from the kept pair or triple counts."""
    waiting = waiting_links()
    for tag in tags:
        waiting = waiting.filter(content_object__tag_links__tag=tag)
    waiting = waiting.exclude(tag__in=tags).values("tag").annotate(n=Count("pk"))
    waiting_sql, waiting_params = waiting.query.sql_with_params()
    if len(tags) == 1:
        kept_table, kept_where, kept_params = TagPair._meta.db_table, "kept.tag_id = %s", [tags[0].pk]
    else:
        first, second = sorted(tag.pk for tag in tags)
        kept_table, kept_where = TagTriple._meta.db_table, "kept.first_id = %s AND kept.second_id = %s"
        kept_params = [first, second]
    tag_table = connection.ops.quote_name(Tag._meta.db_table)
    count = "kept.published_studies - COALESCE(waiting.n, 0)"
    # Names come from the models; values are parameters.
    sql = (
        f"SELECT {tag_table}.*, {count} AS study_count FROM {connection.ops.quote_name(kept_table)} kept "  # noqa: S608
        f"JOIN {tag_table} ON {tag_table}.id = kept.other_id "
        f'LEFT JOIN ({waiting_sql}) waiting ON waiting."tag" = kept.other_id '
        f"WHERE {kept_where} AND {count} > 0 ORDER BY study_count DESC, {tag_table}.name LIMIT %s"
    )
    return Tag.objects.raw(sql, (*waiting_params, *kept_params, limit))


def tags_in_public_use(limit=None):
    """Tags carried by at least one public study, most used first, each with `study_count`."""
    waiting = waiting_links().values("tag").annotate(n=Count("pk"))
    waiting_sql, params = waiting.query.sql_with_params()
    # A join to the waiting studies counted once for all tags: the ORM would write a
    # correlated subquery here, which counts them again for every tag.
    table = connection.ops.quote_name(Tag._meta.db_table)
    count = f"{table}.published_studies - COALESCE(waiting.n, 0)"
    # Names come from the models; values are parameters.
    sql = (
        f"SELECT {table}.*, {count} AS study_count FROM {table} "  # noqa: S608
        f'LEFT JOIN ({waiting_sql}) waiting ON waiting."tag" = {table}.id '
        f"WHERE {count} > 0 ORDER BY study_count DESC, {table}.name"
    )
    if limit is not None:
        sql += " LIMIT %s"
        params += (limit,)
    return Tag.objects.raw(sql, params)


# Keeping the counts current


def tags_of_study(study_id, using):
    links = TaggedCaseStudy.objects.using(using).filter(content_object=study_id)
    return list(links.values_list("tag", flat=True))


def study_saved(sender, instance, using, **kwargs):
    # Its status may have changed: each of its tags gains or loses it, and so does each pair of them.
    recount(tags_of_study(instance.pk, using), using=using)


def link_deleting(sender, instance, using, **kwargs):
    # A study's links often go in one batch (a deleted study, a retag), and each is
    # then sent without the others: note the study's tags while they are all there.
    instance.study_tag_ids = tags_of_study(instance.content_object_id, using)


def link_changed(sender, instance, using, **kwargs):
    """A tag added to or taken from a study (taggit, a restored revision, a deleted study or tag)."""
    # The tag's count changes, and its pairs with the study's other tags.
    others = getattr(instance, "study_tag_ids", None) or tags_of_study(instance.content_object_id, using)
    recount([instance.tag_id, *others], using=using)


def studies_retagged(sender, instance, action, reverse, using, pk_set=None, **kwargs):
    # From the tag's side: studies moved to a tag in bulk (Tag.merge_into).
    if reverse and action in {"post_add", "post_remove"}:
        others = TaggedCaseStudy.objects.using(using).filter(content_object__in=pk_set or ())
        recount([instance.pk, *others.values_list("tag", flat=True)], using=using)


def studies_changed_in_bulk(studies: QuerySet):
    """For code that changes studies' status with update(), which sends no signal."""
    links = TaggedCaseStudy.objects.filter(content_object__in=studies.values("pk"))
    recount(links.values_list("tag", flat=True), using=studies.db)


def recount_after_migrate(sender, using="default", **kwargs):
    recount(using=using)


def connect_receivers(app_config):
    """Called from CaseStudiesConfig.ready()."""
    post_save.connect(study_saved, sender=CaseStudy, dispatch_uid="tagcounts.study_saved")
    post_save.connect(link_changed, sender=TaggedCaseStudy, dispatch_uid="tagcounts.link_saved")
    pre_delete.connect(link_deleting, sender=TaggedCaseStudy, dispatch_uid="tagcounts.link_deleting")
    post_delete.connect(link_changed, sender=TaggedCaseStudy, dispatch_uid="tagcounts.link_deleted")
    m2m_changed.connect(studies_retagged, sender=TaggedCaseStudy, dispatch_uid="tagcounts.studies_retagged")
    post_migrate.connect(recount_after_migrate, sender=app_config, dispatch_uid="tagcounts.after_migrate")
