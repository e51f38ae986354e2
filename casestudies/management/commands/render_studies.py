from django.core.management.base import BaseCommand

from casestudies.models import CaseStudy


class Command(BaseCommand):
    help = "Render every study's Markdown again, after a change to the rendering pipeline."

    def handle(self, **options):
        rendered = changed = 0
        for study in CaseStudy.objects.iterator():
            before = (study.body_html, study.toc_html, study.reading_minutes)
            # Not an edit: updated_at is left as it was.
            study.save(update_fields=["body"])
            rendered += 1
            changed += before != (study.body_html, study.toc_html, study.reading_minutes)
        self.stdout.write(f"Rendered {rendered} case studies; {changed} changed.")
