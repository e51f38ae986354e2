from django.apps import AppConfig


class CaseStudiesConfig(AppConfig):
    name = "casestudies"
    verbose_name = "Case studies"

    def ready(self):
        from casestudies import contentchanges

        # Every change that can show on a page: the search index, then the content generation.
        contentchanges.connect_receivers(self)
