"""Draws the Teams app icons committed in `manifest/teams/` (run once after a design change):

    .venv/bin/python -m tests.manifest.draw_icons

The symbol is a chat bubble holding a falling training-loss curve. `color.png` is 192x192 and opaque: the
symbol in white on the accent colour. `outline.png` is 32x32: the same symbol in pure white on a transparent
background, as Teams requires. Shapes are drawn at SCALE times the size and downsampled (area average, no ringing) for smooth edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

ACCENT = (15, 108, 189)  # keep in step with `accentColor` in manifest/teams/manifest.json
WHITE = (255, 255, 255)
TEAMS_DIR = Path(__file__).resolve().parents[2] / "manifest" / "teams"
SCALE = 8

Point = tuple[float, float]


@dataclass(frozen=True)
class Symbol:
    """Geometry of the bubble and the curve for a canvas of `size` pixels (already scaled)."""

    size: int
    margin: float  # share of the canvas left free on each side
    tail: float  # share of the canvas below the bubble, for its tail
    stroke: float  # line width as a share of the canvas

    @property
    def width(self) -> int:
        return max(1, round(self.stroke * self.size))

    @property
    def box(self) -> tuple[float, float, float, float]:
        m = self.margin * self.size
        return (m, m, self.size - m, self.size * (1 - self.tail))

    @property
    def radius(self) -> float:
        return (self.box[3] - self.box[1]) * 0.22

    @property
    def tail_points(self) -> list[Point]:
        left, _, right, bottom = self.box
        span = right - left
        tip_y = self.size * (1 - self.margin)
        return [
            (left + span * 0.18, bottom - 1),
            (left + span * 0.40, bottom - 1),
            (left + span * 0.12, tip_y),
        ]

    @property
    def curve(self) -> list[Point]:
        # steep at first, then flattening: what a healthy training loss looks like
        left, top, right, bottom = self.box
        x0, x1 = left + (right - left) * 0.18, right - (right - left) * 0.18
        y0, y1 = top + (bottom - top) * 0.25, bottom - (bottom - top) * 0.28
        return [(x0 + (x1 - x0) * i / 40, y1 - (y1 - y0) * (1 - i / 40) ** 3) for i in range(41)]

    def draw_curve(self, draw: ImageDraw.ImageDraw, fill: int | tuple[int, int, int]) -> None:
        draw.line(self.curve, fill=fill, width=self.width, joint="curve")
        x, y = self.curve[-1]
        r = self.width * 1.1
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)  # the newest checkpoint


def color_icon() -> Image.Image:
    size = 192
    # the symbol spans the central ~120 px, the area Teams keeps clear of its own rounding and cropping
    symbol = Symbol(size * SCALE, margin=0.19, tail=0.3, stroke=0.035)
    image = Image.new("RGB", (symbol.size, symbol.size), ACCENT)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(symbol.box, radius=symbol.radius, fill=WHITE)
    draw.polygon(symbol.tail_points, fill=WHITE)
    symbol.draw_curve(draw, ACCENT)
    return image.resize((size, size), Image.Resampling.BOX)


def outline_icon() -> Image.Image:
    size = 32
    symbol = Symbol(size * SCALE, margin=0.07, tail=0.27, stroke=0.075)
    mask = Image.new("L", (symbol.size, symbol.size), 0)
    draw = ImageDraw.Draw(mask)
    draw.rounded_rectangle(symbol.box, radius=symbol.radius, outline=255, width=symbol.width)
    tail = symbol.tail_points
    draw.line([tail[0], tail[2], tail[1]], fill=255, width=symbol.width, joint="curve")
    symbol.draw_curve(draw, 255)
    # every pixel is pure white and only alpha varies: "white on transparent" exactly
    image = Image.new("RGBA", (size, size), (*WHITE, 0))
    image.putalpha(mask.resize((size, size), Image.Resampling.BOX))
    return image


def main() -> None:
    TEAMS_DIR.mkdir(parents=True, exist_ok=True)
    color_icon().save(TEAMS_DIR / "color.png", optimize=True)
    outline_icon().save(TEAMS_DIR / "outline.png", optimize=True)
    print(f"wrote {TEAMS_DIR / 'color.png'} and {TEAMS_DIR / 'outline.png'}")


if __name__ == "__main__":
    main()
