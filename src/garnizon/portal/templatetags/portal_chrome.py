"""The portal's header and footer, drawn once per language and reused.

They are the same on every page for a visitor who is not logged in, but for
the current address in the language links, and drawing them through the
template engine took about as long as the rest of a short page. A logged-in
citizen's header (their name, the log-out form) is drawn every time.
"""

from __future__ import annotations

from urllib.parse import quote

from django import template
from django.core.cache import cache
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from garnizon.portal.identity import NAME_KEY

register = template.Library()

#: How long a drawn header or footer is kept (as the cached public pages).
CHROME_SECONDS = 60
#: Stands for the current address in a kept header; replaced on every page.
_NEXT_SLOT = "\x00next\x00"


@register.simple_tag(takes_context=True)
def portal_chrome(context: template.Context, part: str) -> SafeString:
    """The page's `part` ("header" or "footer", ``portal/_<part>.html``) for this request."""
    request = context.get("request")
    drawn_part = context.template.engine.get_template(f"portal/_{part}.html")
    session = getattr(request, "session", None)
    if session is None or session.get(NAME_KEY):
        with context.push(next_path=_next(request)):
            return mark_safe(drawn_part.render(context))
    key = f"portal:chrome:{translation.get_language()}:{part}"
    drawn = cache.get(key)
    if drawn is None:
        with context.push(next_path=_NEXT_SLOT):
            drawn = drawn_part.render(context)
        cache.set(key, drawn, CHROME_SECONDS)
    return mark_safe(drawn.replace(_NEXT_SLOT, _next(request)))


def _next(request: object) -> str:
    """The current address as the language links' ``next`` (as the `urlencode` filter)."""
    path = request.get_full_path() if request is not None else ""  # type: ignore[attr-defined]
    return escape(quote(path, safe="/"))
