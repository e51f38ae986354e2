from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import redirect

from siteprofile.models import SiteProfile, SocialLink


class SocialLinkInline(admin.TabularInline):
    model = SocialLink
    extra = 0
    fields = ["position", "label", "url"]
    verbose_name = "social link"
    verbose_name_plural = "Social links (footer and About page)"
    # A link typed without a scheme means https, as browsers assume.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(SiteProfile)
class SiteProfileAdmin(admin.ModelAdmin):
    """One record: the admin index leads straight to it; it is changed, never added twice or deleted."""

    inlines = [SocialLinkInline]
    readonly_fields = ["updated_at"]
    fieldsets = [
        (None, {"fields": ["site_title", "author_name", "tagline"]}),
        ("Home page", {"fields": ["intro"]}),
        ("About page", {"fields": ["about"]}),
        ("Contact", {"fields": ["contact_email"]}),
        (None, {"fields": ["updated_at"]}),
    ]

    def has_add_permission(self, request):
        # The migration creates the record; adding is only for putting back a lost one.
        return super().has_add_permission(request) and not SiteProfile.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        """A list of one is a detour: go to the record (or to adding it, if it is missing)."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        profile = SiteProfile.objects.only("id").first()
        if profile is None:
            return redirect("admin:siteprofile_siteprofile_add")
        return redirect("admin:siteprofile_siteprofile_change", profile.pk)
