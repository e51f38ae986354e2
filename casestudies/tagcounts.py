"""How many published studies there are, and carry each tag, each pair and each triple of tags,
kept at save time.

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

from django.db import connection, connections, transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_delete, pre_save

from casestudies.models import (
    CaseStudy,
    PublishedTotal,
    Tag,
    TaggedCaseStudy,
    TagPair,
    TagTriple,
    waiting_condition,
)


def links_per_tag(links):
    """The number of `links` of the outer query's tag, as a subquery."""
    return Subquery(links.filter(tag=OuterRef("pk")).values("tag").annotate(n=Count("pk")).values("n"))


def recount(tag_ids=None, *, using="default"):
    """Count again the published studies of the given tags, and of their pairs and triples (all,
    and the total of published studies, when None).

    A change to one study changes only the pairs and triples among its own tags,
    so callers pass those; a popular tag's pairs with every other tag are not
    counted again.
    """
    tags = Tag.objects.using(using)
    if tag_ids is None:
        recount_total(using)
    else:
        tag_ids = sorted(set(tag_ids))
        tags = tags.filter(pk__in=tag_ids)
    published_links = TaggedCaseStudy.objects.filter(content_object__status=CaseStudy.Status.PUBLISHED)
    tags.update(published_studies=Coalesce(links_per_tag(published_links), 0))
    # A study's links joined to its other links: each pair both ways round.
    recount_combinations(TagPair, ["tag", "other"], {"b": "b.tag_id <> a.tag_id"}, tag_ids, using)
    # Each pair once (in id order), with each third tag of the study.
    recount_combinations(
        TagTriple,
        ["first", "second", "other"],
        {"b": "b.tag_id > a.tag_id", "c": "c.tag_id <> a.tag_id AND c.tag_id <> b.tag_id"},
        tag_ids,
        using,
    )


def recount_total(using="default"):
    """Count the published studies again, into the one PublishedTotal row."""
    published = CaseStudy.objects.using(using).filter(status=CaseStudy.Status.PUBLISHED)
    with transaction.atomic(using=using):
        # Locked first, so that of two saves at once the second counts after the first commits.
        total, _ = PublishedTotal.objects.using(using).select_for_update().get_or_create(pk=1)
        total.published_studies = published.count()
        total.save(update_fields=["published_studies"])


def recount_combinations(model, fields, joins, tag_ids, using):
    """Write `model`'s counts afresh: for each combination of tags, its published studies.

    The links of one study are joined to themselves once per name in `joins` (its
    condition on the tags), after the first, `a`; `fields` name the tags in that
    order. With `tag_ids`, only the combinations made of those tags are counted.
    """
    aliases = ["a", *joins]
    quote = connections[using].ops.quote_name
    table = quote(model._meta.db_table)
    links, studies = quote(TaggedCaseStudy._meta.db_table), quote(CaseStudy._meta.db_table)
    columns = [f"{field}_id" for field in fields]
    rows_within, links_within, ids = "", "", []
    if tag_ids is not None:
        if not tag_ids:
            return
        ids = list(tag_ids)
        placeholders = ", ".join(["%s"] * len(ids))
        rows_within = "WHERE " + " AND ".join(f"{column} IN ({placeholders})" for column in columns)
        links_within = " ".join(f"AND {alias}.tag_id IN ({placeholders})" for alias in aliases)
    tags = ", ".join(f"{alias}.tag_id" for alias in aliases)
    joined = " ".join(
        f"JOIN {links} {alias} ON {alias}.content_object_id = a.content_object_id AND {condition}"
        for alias, condition in joins.items()
    )
    # Names come from the models and this module; values are parameters. A plain DELETE:
    # these rows are derived counts, and the ORM would load and signal each of them.
    delete = f"DELETE FROM {table} {rows_within}"  # noqa: S608
    insert = (
        f"INSERT INTO {table} ({', '.join(columns)}, published_studies) "  # noqa: S608
        f"SELECT {tags}, COUNT(*) FROM {links} a {joined} "
        f"JOIN {studies} study ON study.id = a.content_object_id AND study.status = %s "
        f"WHERE 1 = 1 {links_within} GROUP BY {tags}"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(delete, ids * len(columns))
        cursor.execute(insert, [CaseStudy.Status.PUBLISHED, *ids * len(aliases)])


# Reading the counts. By hand, like the writing above: they run on every list page, and
# composed through the ORM (correlated subqueries, expressions) they cost more to compile
# than to run. Names come from the models; values are parameters.


def table_names():
    quote = connection.ops.quote_name
    return tuple(quote(model._meta.db_table) for model in (Tag, TaggedCaseStudy, CaseStudy))


def waiting_per_tag(carrying=()):
    """SQL and parameters of a derived table `(tag, n)`: for each tag, how many studies
    published but still waiting for their date carry it (and every tag of `carrying`).

    A few rows, found through the date index; the kept counts less these are the public ones.
    """
    _, links, studies = table_names()
    also_carrying = "".join(
        f"JOIN {links} also{index} ON also{index}.content_object_id = study.id AND also{index}.tag_id = %s "
        for index in range(len(carrying))
    )
    waiting, waiting_params = waiting_condition("study")
    sql = (
        f"SELECT link.tag_id AS tag, COUNT(*) AS n FROM {studies} study "  # noqa: S608
        f"JOIN {links} link ON link.content_object_id = study.id {also_carrying}"
        f"WHERE {waiting} GROUP BY link.tag_id"
    )
    return sql, [*(tag.pk for tag in carrying), *waiting_params]


def all_public_studies():
    """How many studies are public, as a value a query can carry: the kept total less the
    studies waiting for their date (counted, should the row be missing)."""
    totals = connection.ops.quote_name(PublishedTotal._meta.db_table)
    _, _, studies = table_names()
    waiting, waiting_params = waiting_condition("study")
    count = f"SELECT COUNT(*) FROM {studies} study WHERE"  # noqa: S608
    sql = (
        f"COALESCE((SELECT published_studies FROM {totals} WHERE id = 1), ({count} study.status = %s)) "  # noqa: S608
        f"- ({count} {waiting})"
    )
    params = [CaseStudy.Status.PUBLISHED, *waiting_params]
    return RawSQL(sql, params, output_field=IntegerField())  # noqa: S611


def tags_with_public_studies(slugs):
    """The tags of these slugs, each with `public_studies`: how many public studies carry it."""
    tag_table, links, studies = table_names()
    placeholders = ", ".join(["%s"] * len(slugs))
    # For each of these few tags, its waiting studies: probed from the date index, rather
    # than counting the waiting studies of every tag.
    waiting_where, waiting_params = waiting_condition("study")
    waiting = (
        f"SELECT COUNT(*) FROM {studies} study JOIN {links} link "  # noqa: S608
        f"ON link.content_object_id = study.id AND link.tag_id = {tag_table}.id WHERE {waiting_where}"
    )
    sql = (
        f"SELECT {tag_table}.*, {tag_table}.published_studies - ({waiting}) AS public_studies "  # noqa: S608
        f"FROM {tag_table} WHERE {tag_table}.slug IN ({placeholders})"
    )
    return list(Tag.objects.raw(sql, [*waiting_params, *slugs]))


def public_studies_of(tags):
    """How many public studies carry every one of `tags`, as a value a query can carry.

    Read from the kept counts for one tag or two (their waiting studies subtracted);
    None for more, which the caller counts. The tags come from `tags_with_public_studies`.
    """
    if len(tags) == 1:
        # Counted already, by `tags_with_public_studies`.
        return Value(tags[0].public_studies)
    if len(tags) != 2:
        return None
    pairs = connection.ops.quote_name(TagPair._meta.db_table)
    waiting_sql, waiting_params = waiting_per_tag(carrying=[tags[1]])
    sql = (
        f"COALESCE((SELECT published_studies FROM {pairs} WHERE tag_id = %s AND other_id = %s), 0) "  # noqa: S608
        f"- COALESCE((SELECT waiting.n FROM ({waiting_sql}) waiting WHERE waiting.tag = %s), 0)"
    )
    return RawSQL(sql, [tags[0].pk, tags[1].pk, *waiting_params, tags[0].pk], output_field=IntegerField())  # noqa: S611


def tags_found_with(tags, limit):
    """The other tags of the public studies carrying all of `tags` (one tag or two), most
    common first, each with `study_count`; read from the kept pair or triple counts."""
    if len(tags) == 1:
        kept_table, kept_where, kept_params = TagPair._meta.db_table, "kept.tag_id = %s", [tags[0].pk]
    else:
        first, second = sorted(tag.pk for tag in tags)
        kept_table, kept_where = TagTriple._meta.db_table, "kept.first_id = %s AND kept.second_id = %s"
        kept_params = [first, second]
    tag_table, _, _ = table_names()
    waiting_sql, waiting_params = waiting_per_tag(carrying=tags)
    count = "kept.published_studies - COALESCE(waiting.n, 0)"
    sql = (
        f"SELECT {tag_table}.*, {count} AS study_count FROM {connection.ops.quote_name(kept_table)} kept "  # noqa: S608
        f"JOIN {tag_table} ON {tag_table}.id = kept.other_id "
        f"LEFT JOIN ({waiting_sql}) waiting ON waiting.tag = kept.other_id "
        f"WHERE {kept_where} AND {count} > 0 ORDER BY {most_used_first(tag_table)} LIMIT %s"
    )
    return Tag.objects.raw(sql, (*waiting_params, *kept_params, limit))


def most_used_first(table):
    """The order of every tag panel: most studies first, then by name whatever its case."""
    return f"study_count DESC, LOWER({table}.name), {table}.name"


def tags_in_public_use(limit=None):
    """Tags carried by at least one public study, most used first, each with `study_count`."""
    tag_table, _, _ = table_names()
    waiting_sql, params = waiting_per_tag()
    # A join to the waiting studies counted once for all tags, rather than a correlated
    # subquery that counts them again for every tag.
    count = f"{tag_table}.published_studies - COALESCE(waiting.n, 0)"
    sql = (
        f"SELECT {tag_table}.*, {count} AS study_count FROM {tag_table} "  # noqa: S608
        f"LEFT JOIN ({waiting_sql}) waiting ON waiting.tag = {tag_table}.id "
        f"WHERE {count} > 0 ORDER BY {most_used_first(tag_table)}"
    )
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    return Tag.objects.raw(sql, params)


# Keeping the counts current


def tags_of_study(study_id, using):
    links = TaggedCaseStudy.objects.using(using).filter(content_object=study_id)
    return list(links.values_list("tag", flat=True))


def study_saved(sender, instance, using, **kwargs):
    # Its status may have changed: each of its tags gains or loses it, and so does each pair of them.
    recount(tags_of_study(instance.pk, using), using=using)
    recount_total(using)


def study_deleted(sender, instance, using, **kwargs):
    # Its tags lose it as its links go (link_changed).
    recount_total(using)


def link_deleting(sender, instance, using, **kwargs):
    # A study's links often go in one batch (a deleted study, a retag), and each is
    # then sent without the others: note the study's tags while they are all there.
    instance.study_tag_ids = tags_of_study(instance.content_object_id, using)


def link_restoring(sender, instance, raw, using, **kwargs):
    # A restored revision saves a link raw over the row of the same id, which a tag
    # merge may have moved to another tag since: that tag loses the study too.
    if raw:
        existing = TaggedCaseStudy.objects.using(using).filter(pk=instance.pk)
        instance.replaced_tag_ids = list(existing.values_list("tag", flat=True))


def link_changed(sender, instance, using, **kwargs):
    """A tag added to or taken from a study (taggit, a restored revision, a deleted study or tag)."""
    # The tag's count changes, and its pairs with the study's other tags.
    others = getattr(instance, "study_tag_ids", None) or tags_of_study(instance.content_object_id, using)
    replaced = getattr(instance, "replaced_tag_ids", [])
    recount([instance.tag_id, *replaced, *others], using=using)


def studies_retagged(sender, instance, action, reverse, using, pk_set=None, **kwargs):
    # From the tag's side: studies moved to a tag in bulk (Tag.merge_into).
    if reverse and action in {"post_add", "post_remove"}:
        others = TaggedCaseStudy.objects.using(using).filter(content_object__in=pk_set or ())
        recount([instance.pk, *others.values_list("tag", flat=True)], using=using)


def studies_changed_in_bulk(studies: QuerySet):
    """For code that changes studies' status with update(), which sends no signal."""
    links = TaggedCaseStudy.objects.filter(content_object__in=studies.values("pk"))
    recount(links.values_list("tag", flat=True), using=studies.db)
    recount_total(studies.db)


def recount_after_migrate(sender, using="default", **kwargs):
    recount(using=using)


def connect_receivers(app_config):
    """Called from CaseStudiesConfig.ready()."""
    post_save.connect(study_saved, sender=CaseStudy, dispatch_uid="tagcounts.study_saved")
    post_delete.connect(study_deleted, sender=CaseStudy, dispatch_uid="tagcounts.study_deleted")
    pre_save.connect(link_restoring, sender=TaggedCaseStudy, dispatch_uid="tagcounts.link_restoring")
    post_save.connect(link_changed, sender=TaggedCaseStudy, dispatch_uid="tagcounts.link_saved")
    pre_delete.connect(link_deleting, sender=TaggedCaseStudy, dispatch_uid="tagcounts.link_deleting")
    post_delete.connect(link_changed, sender=TaggedCaseStudy, dispatch_uid="tagcounts.link_deleted")
    m2m_changed.connect(studies_retagged, sender=TaggedCaseStudy, dispatch_uid="tagcounts.studies_retagged")
    post_migrate.connect(recount_after_migrate, sender=app_config, dispatch_uid="tagcounts.after_migrate")
