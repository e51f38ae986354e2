from django.apps import AppConfig


class CaseStudiesConfig(AppConfig):
    name = "casestudies"
    verbose_name = "Case studies"

    def ready(self):
        from casestudies import cards, search, socialcards, tagcounts
        from portfolio import pagecache

        # Each study's share image is drawn again when what it shows changes.
        socialcards.connect_receivers()
        # The search index follows every change to a study, its tags and their names.
        search.connect_receivers(self)
        # So do the per-tag counts of published studies, and each study's card on the list.
        tagcounts.connect_receivers(self)
        cards.connect_receivers(self)
        # Last, so the index and cards are current before stored pages are dropped.
        pagecache.connect_receivers()
