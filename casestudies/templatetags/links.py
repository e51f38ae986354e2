"""`safe_url`: a stored link, only if it is one a visitor may follow."""

from django import template

register = template.Library()

# The models refuse any other scheme, but rows written around them (a data migration,
# a queryset's update(), a database from before the rule) reach pages too.
WEB_SCHEMES = ("http://", "https://")


@register.filter
def safe_url(value):
    """`value` if it is an absolute http(s) URL, else "": never a javascript: or data: link.

    A prefix test rather than a URL parser: what a browser strips or forgives in a scheme
    (leading spaces, a tab inside it) can only make a value fail.
    """
    value = str(value or "")
    return value if value.lower().startswith(WEB_SCHEMES) else ""
