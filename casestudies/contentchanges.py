"""Every change that can show on a page, received in one place, and what follows from it.

A page is drawn from the studies, their tags, outcomes and old slugs, and the site
profile. Whatever path a change takes (a save in the admin or a bulk action, a
restored revision, an import, a tag renamed, merged or deleted, a study deleted),
it sends one of the signals connected below, and this module does, in order:

0. The content's own rules: a study whose slug changes keeps its old address
   working, and a restored revision does not bring back a link to a tag deleted
   or merged away since.

1. The search index: the entries of the studies concerned are written again in the
   same transaction, so a rolled-back change leaves the index as it was.
2. Share images: nothing to mark. A card's digest names what it shows (title, tags,
   site name); the card view draws a card whose digest no longer matches when it is
   next requested, never inside the request that made the change.
3. The content generation, once the transaction commits: every page and value kept
   under the generation (pagecache.remember: the site profile, the tag panel) is out
   of date in every process at once.

4. Image files, once the transaction commits: an image deleted (on its own or with its
   study) takes its master and renditions with it, unless another image has the same
   picture. A body that names an image is rendered again when the image comes or goes.

Nothing else keeps a copy of what a study shows: totals, facets, related studies and
neighbours are read from `CaseStudy.objects.published()` when a page is drawn.
"""

from django.apps import apps as global_apps
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save, pre_save

from casestudies import images, search
from casestudies.models import CaseStudy, Outcome, SlugRedirect, StudyImage, Tag, TaggedCaseStudy
from portfolio import pagecache
from siteprofile.models import SiteProfile, SocialLink

# Models whose rows show on pages but not in the search index.
SHOWN_BESIDE_STUDIES = (Outcome, SlugRedirect, SiteProfile, SocialLink)


def content_changed(using):
    """Every stored page is out of date once this change commits (earlier, a request in
    between could store the old page as new). Robust: the change stands even if the
    generation cannot be written; pagecache retries and logs."""
    transaction.on_commit(pagecache.start_generation, using=using, robust=True)


def studies_changed(study_ids, using):
    search.index_studies(study_ids, using=using)
    content_changed(using)


def study_saving(sender, instance, using, **kwargs):
    """When a study's slug changes (a save, or a revert from history), redirect the old one.

    A signal rather than save(): restoring a revision saves raw, past save().
    """
    if instance.pk is None:
        return
    studies = CaseStudy.objects.using(using)
    old_slug = studies.filter(pk=instance.pk).values_list("slug", flat=True).first()
    if old_slug is None or old_slug == instance.slug:
        return
    redirects = SlugRedirect.objects.using(using)
    redirects.filter(old_slug=instance.slug, study=instance).delete()
    redirects.update_or_create(old_slug=old_slug, defaults={"study": instance})


def study_saved(sender, instance, update_fields, using, **kwargs):
    # A save that names only fields the index does not hold (a bulk publish) leaves the entry as it is.
    if update_fields is None or search.INDEXED_FIELDS & set(update_fields):
        search.index_studies([instance.pk], using=using)
    content_changed(using)


def study_deleted(sender, instance, using, **kwargs):
    search.drop_entries([instance.pk], using=using)
    content_changed(using)


def link_changed(sender, instance, using, origin=None, raw=False, **kwargs):
    """A tag added to or taken from a study: by taggit, a restored revision, a deleted tag."""
    if raw and not Tag.objects.using(using).filter(pk=instance.tag_id).exists():
        # Restoring a revision saves its links raw, as they were then. A link to a tag
        # deleted or merged away since is dropped again at once (the database checks it
        # at commit, so the restore would fail): the study comes back without it, as the
        # restore form shows. A delete with its signals: this receiver follows it.
        TaggedCaseStudy.objects.using(using).filter(pk=instance.pk).delete()
        return
    # Not while the study itself is being deleted: its entry goes with it (study_deleted).
    deleting_studies = isinstance(origin, CaseStudy) or (
        isinstance(origin, QuerySet) and origin.model is CaseStudy
    )
    if deleting_studies:
        content_changed(using)
    else:
        studies_changed([instance.content_object_id], using)


def studies_retagged(sender, instance, action, reverse, pk_set, using, **kwargs):
    # From the tag's side: studies moved to a tag in bulk (Tag.merge_into sends this). From
    # the study's side, taggit saves or deletes each link, which link_changed follows.
    if reverse and action in {"post_add", "post_remove"} and pk_set:
        studies_changed(pk_set, using)


def tag_saved(sender, instance, created, using, **kwargs):
    # A new tag shows nowhere until a study carries it, and that link is a change of its own.
    if not created:
        # Renamed: its studies are found by the new name, no longer by the old.
        links = TaggedCaseStudy._base_manager.using(using).filter(tag=instance)
        studies_changed(links.values_list("content_object", flat=True), using)


def image_saving(sender, instance, using, **kwargs):
    # Another picture uploaded in an image's place: the old one's files go, once committed.
    if instance.pk is not None:
        old = StudyImage.objects.using(using).filter(pk=instance.pk).first()
        if old is not None and old.digest != instance.digest:
            delete_files_once_unused(old, using)


def image_saved(sender, instance, raw, using, **kwargs):
    if not raw:
        render_body_again(instance.study_id, using)


def image_deleted(sender, instance, using, origin=None, **kwargs):
    deleting_studies = isinstance(origin, CaseStudy) or (
        isinstance(origin, QuerySet) and origin.model is CaseStudy
    )
    if not deleting_studies:
        render_body_again(instance.study_id, using)
    delete_files_once_unused(instance, using)


def delete_files_once_unused(image, using):
    names, digest = image.file_names, image.digest

    def delete_files():
        # Checked once committed: an image saved meanwhile with the same picture keeps them.
        if not StudyImage.objects.using(using).filter(digest=digest).exists():
            images.delete_files(names)

    transaction.on_commit(delete_files, using=using, robust=True)


def render_body_again(study_id, using):
    """The body may show the image that changed: render it with the study's images as they are now."""
    study = CaseStudy.objects.using(using).filter(pk=study_id).first()
    if study is not None:
        study.save(update_fields=["body"])


def shown_beside_studies_changed(sender, using, **kwargs):
    # Also a tag deleted: its links go first, each one a link_changed.
    content_changed(using)


def after_migrate(sender, using, apps=global_apps, **kwargs):
    # Data a migration changed, or a flushed database: index what is missing, drop strays.
    search.sync_index(apps=apps, using=using)
    content_changed(using)


def connect_receivers(app_config):
    """Called from CaseStudiesConfig.ready()."""
    pre_save.connect(study_saving, sender=CaseStudy, dispatch_uid="contentchanges.study_saving")
    post_save.connect(study_saved, sender=CaseStudy, dispatch_uid="contentchanges.study_saved")
    post_delete.connect(study_deleted, sender=CaseStudy, dispatch_uid="contentchanges.study_deleted")
    post_save.connect(link_changed, sender=TaggedCaseStudy, dispatch_uid="contentchanges.link_saved")
    post_delete.connect(link_changed, sender=TaggedCaseStudy, dispatch_uid="contentchanges.link_deleted")
    m2m_changed.connect(studies_retagged, sender=TaggedCaseStudy, dispatch_uid="contentchanges.retagged")
    post_save.connect(tag_saved, sender=Tag, dispatch_uid="contentchanges.tag_saved")
    post_delete.connect(shown_beside_studies_changed, sender=Tag, dispatch_uid="contentchanges.tag_deleted")
    pre_save.connect(image_saving, sender=StudyImage, dispatch_uid="contentchanges.image_saving")
    post_save.connect(image_saved, sender=StudyImage, dispatch_uid="contentchanges.image_saved")
    post_delete.connect(image_deleted, sender=StudyImage, dispatch_uid="contentchanges.image_deleted")
    for model in SHOWN_BESIDE_STUDIES:
        uid = f"contentchanges.{model._meta.label_lower}"
        post_save.connect(shown_beside_studies_changed, sender=model, dispatch_uid=f"{uid}.saved")
        post_delete.connect(shown_beside_studies_changed, sender=model, dispatch_uid=f"{uid}.deleted")
    post_migrate.connect(after_migrate, sender=app_config, dispatch_uid="contentchanges.after_migrate")
