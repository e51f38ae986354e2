from django.shortcuts import render


def about(request):
    # Everything on the page comes from the profile the context processor provides.
    return render(request, "siteprofile/about.html")
