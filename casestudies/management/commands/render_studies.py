from django.core.management.base import BaseCommand

from casestudies import images, socialcards
from casestudies.management.progress import progress, say
from casestudies.models import CaseStudy, StudyImage
from siteprofile.models import SiteProfile


class Command(BaseCommand):
    help = (
        "Render every study's Markdown again (and the site profile's), after a change "
        "to the rendering pipeline, make every missing image rendition, and draw every "
        "missing or out-of-date share image."
    )

    def handle(self, verbosity, **options):
        rendered = changed = 0
        # First: bodies name the renditions.
        made = sum(
            images.make_missing_renditions(image)
            for image in progress(
                StudyImage.objects.iterator(),
                self,
                verbosity,
                "Renditions",
                total=StudyImage.objects.count(),
                unit="image",
            )
        )
        studies = CaseStudy.objects.iterator()
        for study in progress(
            studies, self, verbosity, "Rendering", total=CaseStudy.objects.count(), unit="study"
        ):
            before = (study.body_html, study.toc_html, study.reading_minutes)
            # Not an edit: updated_at is left as it was.
            study.save(update_fields=["body"])
            rendered += 1
            changed += before != (study.body_html, study.toc_html, study.reading_minutes)
            for problem in study.render_problems:
                say(self.stderr, f"{study.slug}: {problem}")
        for profile in SiteProfile.objects.all():
            profile.save(update_fields=["intro", "about"])
        socialcards.refresh_cards(CaseStudy.objects.values_list("pk", flat=True))
        self.stdout.write(f"Rendered {rendered} case studies; {changed} changed.")
        if made:
            self.stdout.write(f"Made the missing renditions of {made} images.")
