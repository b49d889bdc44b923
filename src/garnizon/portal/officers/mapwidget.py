"""The map without JavaScript: image buttons whose clicks the server turns into points.

`<input type="image" name="mapa">` submits `mapa.x` and `mapa.y` (CSS pixels of
the image, which is therefore never scaled). A click on the overview picks an
area; the zoomed map, centred on it, refines it. A keyboard activation of an
image button sends (0, 0): that is read as "no click", so Enter in a text field
of the same form (which presses the first submit button, the map) does no harm.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString

from garnizon.portal import geo

OVERVIEW = "mapa"
ZOOM = "zoom"


def click(data: Any, name: str) -> tuple[int, int] | None:
    """The (x, y) of a click on the image button `name`, or None (absent, (0, 0) or junk)."""
    try:
        x, y = int(data.get(f"{name}.x", "")), int(data.get(f"{name}.y", ""))
    except (TypeError, ValueError):
        return None
    if (x, y) == (0, 0) or x < 0 or y < 0:
        return None
    return x, y


def map_context(point: geo.Point | None, level: int) -> dict[str, Any]:
    """What the map template needs: the images' addresses and sizes, the point's label."""
    context: dict[str, Any] = {
        "overview_url": reverse("portal:portal_officers:map_overview"),
        "overview_width": geo.OVERVIEW_WIDTH,
        "overview_height": geo.OVERVIEW_HEIGHT,
        "zoom_size": geo.ZOOM_SIZE,
        "point": point,
    }
    if point is not None:
        level = min(max(level, 1), geo.MAX_ZOOM)
        context["zoom_url"] = (
            reverse("portal:portal_officers:map_zoom")
            + f"?lat={point.lat:.5f}&lon={point.lon:.5f}&z={level}"
        )
        context["near"] = geo.nearest_place(point)
        context["level"] = level
    return context


class MapWidget(forms.Widget):
    """Renders the overview (and, once a point is known, the zoomed map) as image buttons."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.point: geo.Point | None = None
        self.level = 1

    def value_from_datadict(self, data: Any, files: Any, name: str) -> dict[str, Any]:
        return {OVERVIEW: click(data, OVERVIEW), ZOOM: click(data, ZOOM)}

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return False

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        context = map_context(self.point, self.level)
        context.update(
            {
                "id": final.get("id", f"id_{name}"),
                "describedby": final.get("aria-describedby", ""),
                "invalid": final.get("aria-invalid", ""),
            }
        )
        return SafeString(render_to_string("portal_officers/_map.html", context))


class MapField(forms.Field):
    widget = MapWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {OVERVIEW: None, ZOOM: None}
