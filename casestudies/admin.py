import contextlib
import re

import reversion
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import slugify
from reversion.admin import VersionAdmin
from taggit.models import Tag as TaggitTag

from casestudies import images
from casestudies.checks import review
from casestudies.models import CaseStudy, Outcome, SlugRedirect, StudyImage, Tag
from casestudies.previews import MAX_PREVIEW_BYTES, body_preview, share_preview_field
from casestudies.rendering import rendered_ahead

# The site's tags are casestudies.Tag; taggit's own table stays empty.
admin.site.unregister(TaggitTag)


class OutcomeInline(admin.TabularInline):
    model = Outcome
    extra = 0
    fields = ["position", "label", "before", "after", "unit"]
    verbose_name = "outcome"
    verbose_name_plural = "Outcomes (key facts: label, before, after, unit)"


class SlugRedirectInline(admin.TabularInline):
    model = SlugRedirect
    extra = 0
    fields = ["old_slug", "created_at"]
    readonly_fields = ["old_slug", "created_at"]
    verbose_name_plural = "Old addresses (they redirect here)"

    def has_add_permission(self, request, obj=None):
        return False


class StudyImageForm(forms.ModelForm):
    """One image of a study: a new upload is accepted (images.accept) or refused on its row."""

    upload = forms.FileField(
        label="file",
        required=False,
        help_text=f"{images.ACCEPTED_NAMES}. To replace a saved image, choose a new file.",
        widget=forms.FileInput(
            attrs={
                "accept": "image/jpeg,image/png,image/webp,image/avif,image/gif",
                "aria-label": "Image file",
            }
        ),
    )

    class Meta:
        model = StudyImage
        fields = ["upload", "name", "alt", "credit", "is_cover"]
        help_texts = {"name": "The name the body calls it by. Left empty, the file's own name."}
        widgets = {
            "name": forms.TextInput(attrs={"aria-label": "Name", "size": 18}),
            "alt": forms.TextInput(attrs={"aria-label": "Alt text", "size": 30}),
            "credit": forms.TextInput(attrs={"aria-label": "Credit", "size": 18}),
            "is_cover": forms.CheckboxInput(attrs={"aria-label": "Cover"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A saved image keeps its picture unless a new file is chosen.
        self.fields["upload"].required = self.instance.pk is None
        self.fields["name"].required = False

    def clean_name(self):
        name = self.cleaned_data["name"]
        return images.plain_name(name) if name else name

    def clean(self):
        cleaned_data = super().clean()
        upload = cleaned_data.get("upload")
        if upload:
            try:
                cleaned_data["master"] = self.accepted(upload)
                if not cleaned_data.get("name") and "name" not in self.errors:
                    cleaned_data["name"] = images.plain_name(upload.name)
            except images.ImageRefused as refusal:
                self.add_error("upload", refusal)
        if not cleaned_data.get("name") and not self.errors:
            self.add_error("name", "Give the image a name, such as “diagram.png”.")
        return cleaned_data

    @staticmethod
    def accepted(upload):
        # Refused by its declared size before a byte of it is read.
        if upload.size > images.max_bytes():
            raise images.ImageRefused(
                f"“{upload.name}” is {upload.size / 1024 / 1024:.1f} MB; "
                f"images may be at most {settings.MAX_IMAGE_MB} MB."
            )
        return images.accept(upload.read(), upload.name)

    def save(self, commit=True):
        if master := self.cleaned_data.get("master"):
            self.instance.show(master)
        return super().save(commit)


class StudyImageFormSet(forms.BaseInlineFormSet):
    def clean(self):
        """Names and the cover, checked across the rows rather than against the database, so
        that a save which deletes, renames or moves the cover between rows is judged as it ends.
        The rows are every image of the study."""
        rows = [form for form in self.forms if form.instance.pk or form.has_changed()]
        kept = [form for form in rows if not self._should_delete_form(form)]
        saved_names = {form.instance.pk: form.initial["name"] for form in rows if form.instance.pk}
        names, covers = set(), 0
        for form in kept:
            name = getattr(form, "cleaned_data", {}).get("name")
            if not name:
                continue
            renamed = form.instance.pk and name != saved_names[form.instance.pk]
            if name in names:
                form.add_error(
                    "name", f"Another image of this study is named “{name}”: give this one another name."
                )
            elif renamed and name in saved_names.values():
                # Saved one row at a time, the two rows would hold one name for a moment.
                form.add_error(
                    "name",
                    f"“{name}” is another image's name until this save: save with that one renamed "
                    "or deleted first, then give this one its name.",
                )
            names.add(name)
            if form.cleaned_data.get("is_cover"):
                covers += 1
                if covers > 1:
                    form.add_error("is_cover", "A study has one cover: tick only one image.")
        super().clean()


class StudyImageInline(admin.TabularInline):
    model = StudyImage
    form = StudyImageForm
    formset = StudyImageFormSet
    # Room for several uploads in one save.
    extra = 2
    fields = ["thumbnail", "upload", "name", "alt", "credit", "is_cover", "markdown"]
    readonly_fields = ["thumbnail", "markdown"]
    verbose_name = "image"
    verbose_name_plural = "Images (a cover, and figures the body shows by name)"

    @admin.display(description="picture")
    def thumbnail(self, image):
        if not image.digest:
            return ""
        url, width = image.renditions("webp")[0]
        height = image.rendition_height(width)
        return format_html(
            '<img class="study-image-thumbnail" src="{}" width="{}" height="{}" alt="{}">',
            url,
            width,
            height,
            image.alt,
        )

    @admin.display(description="in the body")
    def markdown(self, image):
        if not image.pk:
            return "Save to get the Markdown that shows it."
        note = (
            "The cover shows above the body by itself; paste this only to show it in the body too."
            if image.is_cover
            else "Paste where it belongs; the caption in quotes is optional."
        )
        return format_html(
            '<code class="study-image-markdown">{}</code><span class="study-image-note">{}</span>',
            markdown_for(image),
            note,
        )


def store_uploads_ahead(files):
    """Accept and store each uploaded image now, returning the masters whose files are new; one
    refused is left for its row to report."""
    made = []
    for field, upload in files.items():
        if field.startswith("images-") and field.endswith("-upload"):
            with contextlib.suppress(images.ImageRefused):
                master = StudyImageForm.accepted(upload)
                if not default_storage.exists(master.name):
                    images.store(master)
                    made.append(master)
            upload.seek(0)
    return made


def markdown_for(image):
    """What a body writes to show `image` as a captioned figure."""
    # The alt text is written out so the body reads well, unless Markdown would misread it;
    # left empty, the figure takes the image's own.
    alt = "" if re.search(r"[\[\]\\`]", image.alt) else image.alt
    # A name with a space or a bracket is read whole only between angle brackets.
    name = f"<{image.name}>" if re.search(r"[\s()]", image.name) else image.name
    return f'![{alt}]({name} "Caption")'


@admin.register(CaseStudy)
class CaseStudyAdmin(VersionAdmin):
    """Every save keeps a revision: History shows and restores them, deleted studies can be recovered."""

    list_display = ["title", "status", "published_at", "tag_names", "updated_at"]
    list_filter = ["status", "tags", "published_at"]
    search_fields = ["title", "summary", "body"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["share_preview", "reading_minutes", "created_at", "updated_at"]
    actions = ["publish", "unpublish"]
    inlines = [StudyImageInline, OutcomeInline, SlugRedirectInline]
    # A link typed without a scheme means https, as browsers assume.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "body", "tags"]}),
        ("Publishing", {"fields": ["status", "published_at", "share_preview"]}),
        ("Links", {"fields": ["repository_url", "live_url"]}),
        (
            "Key facts",
            {
                "fields": ["role", "timeframe", "team_size", "stack"],
                "description": "Optional. Shown as a panel above the body when any is filled in.",
            },
        ),
        ("About this study", {"fields": ["reading_minutes", "created_at", "updated_at"]}),
    ]

    class Media:
        # The live preview beside the body, and the share link's copy button.
        css = {"all": ["css/admin-preview.css"]}
        js = ["js/admin-preview.js"]

    # Outermost, ahead of VersionAdmin's revision and the admin's own transaction.
    def add_view(self, request, form_url="", extra_context=None):
        with self.body_rendered_ahead(request, None):
            return super().add_view(request, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        with self.body_rendered_ahead(request, object_id):
            return super().change_view(request, object_id, form_url, extra_context)

    @contextlib.contextmanager
    def body_rendered_ahead(self, request, object_id):
        """A posted body rendered, and uploaded images' renditions made, before any transaction
        begins: on SQLite one holds the write lock from its first statement, and every other save
        would wait for Markdown, Graphviz and the AVIF encoder. The save inside takes this
        rendering and finds the files made (they are named by content); images added in the same
        save render the body again. Files made for a save that did not happen are deleted."""
        if request.method != "POST":
            yield
            return
        made = store_uploads_ahead(request.FILES)
        body = request.POST.get("body")
        study = CaseStudy.objects.filter(pk=object_id).first() if (object_id or "").isdigit() else None
        rendering = (
            rendered_ahead(body.replace("\r\n", "\n"), study.images_by_name() if study else {})
            if body is not None
            else contextlib.nullcontext()
        )
        try:
            with rendering:
                yield
        finally:
            for master in made:
                if not StudyImage.objects.filter(digest=master.digest).exists():
                    images.delete_files(images.file_names(master.digest, master.extension, master.width))

    def get_urls(self):
        # Ahead of the default "<object_id>/" route. Not admin_view(): its redirect to the
        # login page would reach fetch() as a 200; the view answers 403 itself.
        preview = path("preview/", body_preview, name="casestudies_casestudy_preview_body")
        return [preview, *super().get_urls()]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and "body" in form.base_fields:
            # The live preview of a saved study shows its uploaded images.
            form.base_fields["body"].widget.attrs["data-preview-study"] = obj.pk
        return form

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "body":
            # admin-preview.js finds the body by these and shows the live preview beside it.
            url = reverse(f"{self.admin_site.name}:casestudies_casestudy_preview_body")
            formfield.widget.attrs |= {"data-preview-url": url, "data-preview-max-bytes": MAX_PREVIEW_BYTES}
        if db_field.name == "published_at":
            # Django's label names the pair but points at neither box: name each for screen readers.
            date, time = formfield.widget.widgets
            date.attrs["aria-label"] = "Date (published at)"
            time.attrs["aria-label"] = "Time (published at)"
        return formfield

    @admin.display(description="share preview")
    def share_preview(self, study):
        return share_preview_field(study)

    def get_queryset(self, request):
        return super().get_queryset(request).with_tags()

    @admin.display(description="tags")
    def tag_names(self, study):
        return ", ".join(tag.name for tag in study.tag_list)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if any(formset.model is StudyImage and formset.has_changed() for formset in formsets):
            # Rendered before its images were saved: again, so the body shows them and the
            # problems below are about the images it has now.
            form.instance.save(update_fields=["body"])
        # After tags, outcomes and images are saved too, so the checks see the whole study.
        for problem in getattr(form.instance, "render_problems", []):
            self.message_user(request, problem, messages.ERROR)
        for warning in review(form.instance):
            self.message_user(request, warning, messages.WARNING)

    @admin.action(description="Publish selected case studies", permissions=["change"])
    def publish(self, request, queryset):
        changed = self.change_status(request, queryset, CaseStudy.Status.PUBLISHED, "Published")
        scheduled = [study for study in changed if not study.is_public]
        self.message_user(
            request, f"Published {len(changed)} case stud{'y' if len(changed) == 1 else 'ies'}."
        )
        if scheduled:
            self.message_user(
                request,
                f"{len(scheduled)} of them {'is' if len(scheduled) == 1 else 'are'} dated in the future "
                "and will appear on the site at that date.",
                messages.WARNING,
            )

    @admin.action(description="Unpublish selected case studies (back to draft)", permissions=["change"])
    def unpublish(self, request, queryset):
        changed = self.change_status(request, queryset, CaseStudy.Status.DRAFT, "Moved back to draft")
        self.message_user(
            request, f"Moved {len(changed)} case stud{'y' if len(changed) == 1 else 'ies'} back to draft."
        )

    def change_status(self, request, queryset, status, comment):
        """Save each selected study that is not already `status`, as an edit in its form would,
        with a revision of its own: every save's consequences follow (search, pages, counts)
        and History shows the change. The studies are read once, before any is changed, so a
        changelist filtered by status still names the same studies after the first save."""
        with transaction.atomic():
            changed = [study for study in queryset if study.status != status]
            for study in changed:
                with reversion.create_revision(atomic=False):
                    study.status = status
                    study.save(update_fields=["status", "updated_at"])
                    reversion.set_user(request.user)
                    reversion.set_comment(f"{comment} with the list's action.")
        return changed


class TagForm(forms.ModelForm):
    # Free text, then slugified below: "Web Sockets" becomes "web-sockets" rather than an error.
    slug = forms.CharField(max_length=100, help_text="Lowercase; typed text is turned into a slug.")

    class Meta:
        model = Tag
        fields = ["name", "slug"]

    def clean_slug(self):
        # Whatever is typed, a slug stays a lowercase slug.
        slug = slugify(self.cleaned_data["slug"], allow_unicode=True)
        if not slug:
            raise forms.ValidationError("Use letters or digits, e.g. “zero-knowledge”.")
        return slug


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """Rename a tag by editing it; merge several with the action."""

    form = TagForm
    list_display = ["name", "slug", "study_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["merge"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(study_count=Count("tagged_studies"))

    @admin.display(description="studies", ordering="study_count")
    def study_count(self, tag):
        return tag.study_count

    @admin.action(description="Merge selected tags into one", permissions=["change", "delete"])
    def merge(self, request, queryset):
        tags = list(queryset.order_by("-study_count", "name"))
        if len(tags) < 2:
            self.message_user(request, "Select at least two tags to merge.", messages.WARNING)
            return None
        target_id = request.POST.get("merge_into")
        target = next((tag for tag in tags if str(tag.pk) == target_id), None)
        if target is None:
            return TemplateResponse(
                request,
                "admin/casestudies/tag/merge.html",
                {**self.admin_site.each_context(request), "tags": tags, "opts": self.model._meta},
            )
        for tag in tags:
            if tag != target:
                tag.merge_into(target)
        self.message_user(request, f"Merged {len(tags) - 1} tag(s) into “{target.name}”.")
        return None


@admin.register(SlugRedirect)
class SlugRedirectAdmin(admin.ModelAdmin):
    list_display = ["old_slug", "study", "created_at"]
    search_fields = ["old_slug", "study__title"]
    list_select_related = ["study"]
    autocomplete_fields = ["study"]
