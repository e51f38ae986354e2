"""How many published studies carry each tag, kept on the tag itself.

The list's "Browse by tag" panel and /tags/ read this column instead of counting
every link of every published study on each request (tens of thousands of rows
at 10,000 studies). It is written in the same transaction as the change it
follows, like the search index, so it never disagrees with a committed study.

The column counts studies whose status is published, whatever their date: a
study dated in the future becomes public at that moment with no save to count
it. So readers subtract the studies still waiting for their date
(`tags_in_public_use`), which are few and found through the date index.
"""

from django.db import connection
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from django.utils import timezone

from casestudies.models import CaseStudy, Tag, TaggedCaseStudy


def links_per_tag(links):
    """The number of `links` of the outer query's tag, as a subquery."""
    return Subquery(links.filter(tag=OuterRef("pk")).values("tag").annotate(n=Count("pk")).values("n"))


def recount(tag_ids=None, *, using="default"):
    """Count again the published studies of the given tags (all tags when None)."""
    tags = Tag.objects.using(using)
    if tag_ids is not None:
        tags = tags.filter(pk__in=list(tag_ids))
    published_links = TaggedCaseStudy.objects.filter(content_object__status=CaseStudy.Status.PUBLISHED)
    tags.update(published_studies=Coalesce(links_per_tag(published_links), 0))


def tags_in_public_use(limit=None):
    """Tags carried by at least one public study, most used first, each with `study_count`."""
    waiting = (
        TaggedCaseStudy.objects.filter(
            content_object__status=CaseStudy.Status.PUBLISHED,
            content_object__published_at__gt=timezone.now(),
        )
        .order_by()
        .values("tag")
        .annotate(n=Count("pk"))
    )
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


def study_saved(sender, instance, using, **kwargs):
    # Its status may have changed: each of its tags gains or loses it.
    recount(
        TaggedCaseStudy.objects.using(using).filter(content_object=instance).values_list("tag", flat=True),
        using=using,
    )


def link_changed(sender, instance, using, **kwargs):
    """A tag added to or taken from a study (taggit, a restored revision, a deleted study or tag)."""
    recount([instance.tag_id], using=using)


def studies_retagged(sender, instance, action, reverse, using, **kwargs):
    # From the tag's side: studies moved to a tag in bulk (Tag.merge_into).
    if reverse and action in {"post_add", "post_remove"}:
        recount([instance.pk], using=using)


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
    post_delete.connect(link_changed, sender=TaggedCaseStudy, dispatch_uid="tagcounts.link_deleted")
    m2m_changed.connect(studies_retagged, sender=TaggedCaseStudy, dispatch_uid="tagcounts.studies_retagged")
    post_migrate.connect(recount_after_migrate, sender=app_config, dispatch_uid="tagcounts.after_migrate")
