"""The page icon, drawn here so the favicon is served by the wizard itself.

A ``:material/…:`` or emoji ``page_icon`` makes the browser fetch the icon from a font CDN;
the wizard must work (and stay quiet) on a machine without internet access.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

SIZE = 64
BLUE = (47, 95, 179, 255)
WHITE = (255, 255, 255, 255)


def page_icon() -> Image.Image:
    """Two plugs joined by a cable, white on the theme's blue."""
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, SIZE - 1, SIZE - 1), radius=14, fill=BLUE)
    draw.line((18, 46, 46, 18), fill=WHITE, width=6)
    draw.ellipse((8, 36, 28, 56), fill=WHITE)
    draw.ellipse((36, 8, 56, 28), fill=WHITE)
    return image
