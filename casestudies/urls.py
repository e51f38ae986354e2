from django.urls import path

from casestudies import views

app_name = "casestudies"

urlpatterns = [
    path("", views.home, name="home"),
    path("case-studies/", views.study_list, name="list"),
    path("case-studies/<slug:slug>/", views.study_detail, name="detail"),
]
