"""The moments what a study shows may change, for what is kept drawn from it.

The search index and the list cards are both made from a study, its tags and
their names, and must follow every change to them, by whatever path it comes: a
study saved; a tag added to or taken from it (by taggit, a restored revision or
a deleted tag); a tag renamed; studies moved to a tag in bulk (Tag.merge_into,
which sends the signal itself). This module knows which signals mean that; each
keeper says what to do with the studies concerned.
"""

from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_save

from casestudies.models import CaseStudy, Tag, TaggedCaseStudy


def follow(update, *, name, fields=None):
    """Call `update(study_ids, using=alias)` at each of those moments, in the same transaction.

    With `fields`, a save that names only other fields (save(update_fields=...)) is not one.
    """

    def study_saved(sender, instance, update_fields, using, **kwargs):
        if fields is None or update_fields is None or fields & set(update_fields):
            update([instance.pk], using=using)

    def link_changed(sender, instance, using, origin=None, **kwargs):
        # Not while the study itself is being deleted: there is nothing left to keep.
        deleting_studies = isinstance(origin, CaseStudy) or (
            isinstance(origin, QuerySet) and origin.model is CaseStudy
        )
        if not deleting_studies:
            update([instance.content_object_id], using=using)

    def tag_renamed(sender, instance, created, using, **kwargs):
        if not created:
            links = TaggedCaseStudy._base_manager.using(using).filter(tag=instance)
            update(links.values_list("content_object", flat=True), using=using)

    def studies_retagged(sender, instance, action, reverse, pk_set, using, **kwargs):
        # From the tag's side only: taggit's own add, remove and clear save or delete each
        # link, which link_changed follows.
        if reverse and action in {"post_add", "post_remove"} and pk_set:
            update(pk_set, using=using)

    # weak=False: the receivers are closures, with no other reference to keep them alive.
    post_save.connect(study_saved, sender=CaseStudy, weak=False, dispatch_uid=f"{name}.study_saved")
    post_save.connect(link_changed, sender=TaggedCaseStudy, weak=False, dispatch_uid=f"{name}.link_saved")
    post_delete.connect(link_changed, sender=TaggedCaseStudy, weak=False, dispatch_uid=f"{name}.link_deleted")
    post_save.connect(tag_renamed, sender=Tag, weak=False, dispatch_uid=f"{name}.tag_renamed")
    m2m_changed.connect(
        studies_retagged, sender=TaggedCaseStudy, weak=False, dispatch_uid=f"{name}.studies_retagged"
    )
