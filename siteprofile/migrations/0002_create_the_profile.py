"""Create the one site profile, so every page and the admin find it from the first request."""

from django.db import migrations

from casestudies.rendering import render_markdown


def create_profile(apps, schema_editor):
    SiteProfile = apps.get_model("siteprofile", "SiteProfile")
    if SiteProfile.objects.exists():
        return
    # Field defaults as of 0001: the site's existing words, nothing invented.
    profile = SiteProfile(id=1)
    profile.intro_html = render_markdown(profile.intro).html
    profile.save(force_insert=True)


class Migration(migrations.Migration):
    dependencies = [("siteprofile", "0001_initial")]

    operations = [migrations.RunPython(create_profile, migrations.RunPython.noop)]
