from django.contrib import admin, messages
from django.db import models
from django.db.models import Count
from django.utils import timezone
from taggit.models import Tag as TaggitTag

from casestudies.models import CaseStudy, Tag

# The site's tags are casestudies.Tag; taggit's own table stays empty.
admin.site.unregister(TaggitTag)


@admin.register(CaseStudy)
class CaseStudyAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "published_at", "tag_names", "updated_at"]
    list_filter = ["status", "tags", "published_at"]
    search_fields = ["title", "summary", "body"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["reading_minutes", "created_at", "updated_at"]
    actions = ["publish", "unpublish"]
    # A link typed without a scheme means https, as browsers assume.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "body", "tags"]}),
        ("Publishing", {"fields": ["status", "published_at"]}),
        ("Links", {"fields": ["repository_url", "live_url"]}),
        ("About this study", {"fields": ["reading_minutes", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).with_tags()

    @admin.display(description="tags")
    def tag_names(self, study):
        return ", ".join(tag.name for tag in study.tag_list)

    @admin.action(description="Publish selected case studies", permissions=["change"])
    def publish(self, request, queryset):
        count = queryset.update(status=CaseStudy.Status.PUBLISHED)
        scheduled = queryset.filter(published_at__gt=timezone.now()).count()
        self.message_user(request, f"Published {count} case stud{'y' if count == 1 else 'ies'}.")
        if scheduled:
            self.message_user(
                request,
                f"{scheduled} of them {'is' if scheduled == 1 else 'are'} dated in the future "
                "and will appear on the site at that date.",
                messages.WARNING,
            )

    @admin.action(description="Unpublish selected case studies (back to draft)", permissions=["change"])
    def unpublish(self, request, queryset):
        count = queryset.update(status=CaseStudy.Status.DRAFT)
        self.message_user(request, f"Moved {count} case stud{'y' if count == 1 else 'ies'} back to draft.")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "study_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(study_count=Count("tagged_studies"))

    @admin.display(description="studies", ordering="study_count")
    def study_count(self, tag):
        return tag.study_count
