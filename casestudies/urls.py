from django.urls import path

from casestudies import feeds, previews, socialcards, views

app_name = "casestudies"

urlpatterns = [
    path("", views.home, name="home"),
    path("case-studies/", views.study_list, name="list"),
    path("tags/", views.tag_index, name="tags"),
    # Before `<slug>/`, so it wins: "feed" is not a usable study slug.
    path("case-studies/feed/", feeds.StudyFeed(), name="feed"),
    # Two segments, so it never meets a study's `<slug>/`: a study may even be slugged "preview".
    path("case-studies/preview/<str:token>/", previews.shared_preview, name="shared_preview"),
    path("case-studies/<slug:slug>/", views.study_detail, name="detail"),
    # The study's share image (og:image); two segments, so it never meets `<slug>/`.
    path("case-studies/<slug:slug>/card.png", socialcards.card_image, name="card"),
]
