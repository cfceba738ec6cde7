"""Laying out one questionnaire screen as in-headset panel pages: images and hit regions.

Size and sharpness: the panel is a flat quad ``width_m`` x ``height_m`` placed ``distance_m``
in front of the eyes (:class:`PanelGeometry`; default 0.64 m x 0.52 m at 0.8 m, about 44 x 36
degrees). Its texture has as many pixels per degree at its centre as the headset shows
(``px_per_deg``, default 25: Meta Quest 3 is about 25 px/deg, Valve Index about 14, HTC Vive
Pro 2 about 20), so text is not blurred by texture minification: 25 px/deg at 0.8 m is
1790 px per metre and a 1152 x 936 pixel image. Text sizes are set in degrees of visual
angle (body text 1.2 degrees = 30 px, titles 1.6 degrees), above the 1 degree that VR text
needs to be read without effort.

A screen whose items do not fit one panel is split into pages (items kept whole, in the
order the tablet shows them: :meth:`Instrument.presentation_order`). Each page image is
drawn once (:func:`render_page`); what changes while a participant answers (selection,
hover, focus, dwell progress, messages) is drawn over it by :func:`compose`.

Pixel coordinates: x to the right, y down, origin at the top-left of the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

from PIL import Image, ImageDraw, ImageFont

from questionnaires.instruments import ChoiceItem, Instrument, LikertItem, SemanticDifferentialItem, TextItem
from questionnaires.manikin import manikin_image

# colours (sRGB): a dark panel is comfortable in a headset and keeps the scene readable behind it
BG = (30, 34, 42, 255)
INK = (236, 239, 244, 255)
MUTED = (160, 168, 182, 255)
BUTTON = (52, 58, 70, 255)
BUTTON_EDGE = (96, 106, 124, 255)
ACCENT = (66, 140, 255, 255)
HOVER = (140, 190, 255, 255)
FOCUS = (255, 204, 64, 255)
ERROR = (255, 120, 110, 255)
ATTENTION = (255, 214, 102, 255)

#: The largest number of choice buttons in one row.
CHOICES_PER_ROW = 4


@dataclass(frozen=True)
class PanelGeometry:
    """Physical size and placement of the panel and the headset's resolution.

    ``width_m``, ``height_m``: the quad in metres; ``distance_m``: from the eyes; ``drop_m``:
    its centre below eye height; ``px_per_deg``: pixels per degree of the headset's display
    at its centre.
    """

    width_m: float = 0.64
    height_m: float = 0.52
    distance_m: float = 0.8
    drop_m: float = 0.1
    px_per_deg: float = 25.0

    @property
    def px_per_m(self) -> float:
        """Texture pixels per metre so the panel centre has ``px_per_deg`` (one degree spans
        ``distance_m * pi / 180`` metres there)."""
        return self.px_per_deg / (self.distance_m * math.pi / 180.0)

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of the image in pixels, rounded up to multiples of 8."""
        def up8(v: float) -> int:
            return int(math.ceil(v / 8.0) * 8)
        return up8(self.width_m * self.px_per_m), up8(self.height_m * self.px_per_m)

    def px(self, degrees: float) -> int:
        """Pixels spanning ``degrees`` of visual angle at the panel centre."""
        return max(1, round(degrees * self.px_per_deg))

    @property
    def angular_size_deg(self) -> tuple[float, float]:
        """(horizontal, vertical) degrees the panel spans."""
        return (math.degrees(2 * math.atan(self.width_m / 2 / self.distance_m)),
                math.degrees(2 * math.atan(self.height_m / 2 / self.distance_m)))


@dataclass(frozen=True)
class Control:
    """Something a participant can press: an answer option or a navigation button.

    ``kind``: ``option`` (answers ``item_id`` with ``value``), ``back``, ``next`` or
    ``submit``. ``box``: (x0, y0, x1, y1) pixels. ``row``/``col``: its place for the arrow
    keys (one row per item, the buttons last). ``label``: text drawn on it.
    """

    kind: str
    box: tuple[int, int, int, int]
    row: int
    col: int
    label: str = ""
    item_id: str | None = None
    value: Any = None
    font_px: int = 0

    def contains(self, x: float, y: float) -> bool:
        x0, y0, x1, y1 = self.box
        return x0 <= x < x1 and y0 <= y < y1

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2, (y0 + y1) / 2)


@dataclass
class PageLayout:
    """One page: its image (without selections), controls and where each item sits."""

    image: Image.Image
    controls: list[Control]
    item_boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    item_ids: list[str] = field(default_factory=list)
    message_box: tuple[int, int, int, int] = (0, 0, 0, 0)

    def hit(self, x: float, y: float) -> Control | None:
        """The control under pixel (x, y), if any."""
        for c in self.controls:
            if c.contains(x, y):
                return c
        return None


@lru_cache(maxsize=16)
def font(size_px: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font (the same on every machine) at ``size_px``."""
    return ImageFont.load_default(size=size_px)


def wrap(text: str, size_px: int, width_px: float) -> list[str]:
    """``text`` broken into lines no wider than ``width_px`` (words longer than a line are cut)."""
    f = font(size_px)
    lines: list[str] = []
    for para in str(text).split("\n"):
        line = ""
        for word in para.split():
            trial = f"{line} {word}" if line else word
            if f.getlength(trial) <= width_px or not line:
                line = trial
            else:
                lines.append(line)
                line = word
            while f.getlength(line) > width_px and len(line) > 1:   # one over-long word
                cut = len(line)
                while cut > 1 and f.getlength(line[:cut]) > width_px:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


@dataclass(frozen=True)
class _Sizes:
    """Pixel sizes derived from a geometry (text in degrees of visual angle)."""

    title: int
    body: int
    small: int
    margin: int
    gap: int
    button_h: int
    picture: int

    @staticmethod
    def of(g: PanelGeometry) -> "_Sizes":
        return _Sizes(title=g.px(1.6), body=g.px(1.2), small=g.px(0.95), margin=g.px(1.9), gap=g.px(0.9),
                      button_h=g.px(2.5), picture=g.px(3.6))


def _line_h(size_px: int) -> int:
    return round(size_px * 1.28)


def panel_supported(item: Any) -> bool:
    """Whether an item can be answered on the panel (free text needs a keyboard: not in VR)."""
    return not isinstance(item, TextItem)


class _Painter:
    """Draws on a page image (or only measures, when ``draw`` is None)."""

    def __init__(self, draw: ImageDraw.ImageDraw | None, sizes: _Sizes, width: int):
        self.draw, self.s, self.width = draw, sizes, width
        self.content_w = width - 2 * sizes.margin

    def text(self, x: float, y: float, lines: Sequence[str], size: int, fill: tuple, anchor: str = "la") -> int:
        """Draw lines from (x, y) (top); return the height used."""
        lh = _line_h(size)
        if self.draw is not None:
            for i, line in enumerate(lines):
                self.draw.text((x, y + i * lh), line, font=font(size), fill=fill, anchor=anchor)
        return lh * len(lines)

    def button(self, box: tuple[int, int, int, int], label: str, size: int) -> None:
        if self.draw is None:
            return
        self.draw.rounded_rectangle(box, radius=max(4, (box[3] - box[1]) // 5), fill=BUTTON, outline=BUTTON_EDGE,
                                    width=2)
        self.draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), label, font=font(size), fill=INK,
                       anchor="mm")


def _item_block(p: _Painter, item: Any, y: int, row: int, context: dict[str, Any], image: Image.Image | None,
                check_note: str) -> tuple[int, list[Control]]:
    """Lay out (and with a drawing painter, draw) one item from ``y``; return (height, controls)."""
    s = p.s
    x0 = s.margin
    y0 = y
    controls: list[Control] = []
    title = item.text if getattr(item, "text", "") else (
        f"{item.left} or {item.right}" if isinstance(item, SemanticDifferentialItem) else item.id)
    if not getattr(item, "required", True):
        title += " (optional)"
    y += p.text(x0, y, wrap(title, s.body, p.content_w), s.body, INK)
    if check_note:
        y += p.text(x0, y, wrap(check_note, s.small, p.content_w), s.small, ATTENTION)
    y += s.gap // 3
    if isinstance(item, (LikertItem, SemanticDifferentialItem)):
        points = item.points
        n = len(points)
        cell = p.content_w / n
        bw = min(cell - max(4, s.gap // 3), s.button_h * 2.2)
        if isinstance(item, SemanticDifferentialItem):
            half = p.content_w / 2 - s.gap
            left, right = wrap(item.left, s.small, half), wrap(item.right, s.small, half)
            hl = p.text(x0, y, left, s.small, MUTED)
            hr = p.text(x0 + p.content_w, y, right, s.small, MUTED, anchor="ra")
            y += max(hl, hr) + s.gap // 4
        if isinstance(item, SemanticDifferentialItem) and item.manikin:
            pic = int(min(s.picture, cell * 1.9))
            if image is not None:
                for i, v in enumerate(points):
                    if (v - item.min) % 2 == 0 and n == 9:
                        fig = manikin_image(item.manikin, (v - item.min) // 2 + 1, pic)
                        cx = x0 + cell * (i + 0.5)
                        plate = Image.new("RGBA", (pic, pic), (236, 239, 244, 255))
                        plate.alpha_composite(fig)
                        image.alpha_composite(plate, (int(cx - pic / 2), y))
            y += pic + s.gap // 3
        bh = s.button_h
        for i, v in enumerate(points):
            cx = x0 + cell * (i + 0.5)
            box = (int(cx - bw / 2), y, int(cx + bw / 2), y + bh)
            p.button(box, str(v), s.body)
            controls.append(Control("option", box, row, i, str(v), item.id, v, s.body))
        y += bh
        if isinstance(item, LikertItem):
            labels = [wrap(item.label_for(v), s.small, cell - 4)[:3] if item.label_for(v) else [] for v in points]
            tallest = 0
            for i, lines in enumerate(labels):
                cx = x0 + cell * (i + 0.5)
                tallest = max(tallest, p.text(cx, y + 4, lines, s.small, MUTED, anchor="ma"))
            y += tallest + 4
    elif isinstance(item, ChoiceItem):
        per_row = min(CHOICES_PER_ROW, len(item.options))
        cell = p.content_w / per_row
        bh = s.button_h
        for i, opt in enumerate(item.options):
            r, c = divmod(i, per_row)
            bx = x0 + c * cell
            box = (int(bx + 4), y + r * (bh + s.gap // 2), int(bx + cell - 4), y + r * (bh + s.gap // 2) + bh)
            p.button(box, item.label_for(opt), s.body)
            controls.append(Control("option", box, row, i, item.label_for(opt), item.id, opt, s.body))
        rows = math.ceil(len(item.options) / per_row)
        y += rows * bh + (rows - 1) * (s.gap // 2)
    y += s.gap
    return y - y0, controls


def _check_note(item_id: str, context: dict[str, Any], inst: Instrument) -> str:
    """An attention check's instruction, shown inside the items it is about (as the tablet does)."""
    instruction = str(context.get("instruction") or "")
    expect = context.get("expect") if isinstance(context.get("expect"), dict) else {}
    if instruction and item_id in expect:
        return instruction
    return ""


def _header(p: _Painter, inst: Instrument, context: dict[str, Any], where: str) -> int:
    s = p.s
    y = s.margin // 2
    y += p.text(s.margin, y, [where], s.small, MUTED)
    y += p.text(s.margin, y, wrap(inst.title, s.title, p.content_w), s.title, INK)
    if inst.instructions:
        y += p.text(s.margin, y, wrap(inst.instructions, s.small, p.content_w)[:4], s.small, MUTED)
    expect = context.get("expect") if isinstance(context.get("expect"), dict) else {}
    instruction = str(context.get("instruction") or "")
    if instruction and not any(k in inst.item_ids for k in expect):
        y += p.text(s.margin, y, wrap(instruction, s.small, p.content_w)[:3], s.small, ATTENTION)
    return y + s.gap


def _footer_h(s: _Sizes) -> int:
    return s.button_h + _line_h(s.small) + s.margin


def paginate(inst: Instrument, items: Sequence[Any], context: dict[str, Any], geometry: PanelGeometry
             ) -> list[list[Any]]:
    """Split ``items`` (answerable on the panel) into pages that fit the panel, in order."""
    w, h = geometry.size_px
    s = _Sizes.of(geometry)
    p = _Painter(None, s, w)
    avail = h - _header(p, inst, context, "x") - _footer_h(s)
    pages: list[list[Any]] = [[]]
    used = 0
    for row, item in enumerate(items):
        ih, _ = _item_block(p, item, 0, row, context, None, _check_note(item.id, context, inst))
        if pages[-1] and used + ih > avail:
            pages.append([])
            used = 0
        pages[-1].append(item)
        used += ih
    return pages


def render_page(inst: Instrument, items: Sequence[Any], context: dict[str, Any], geometry: PanelGeometry, *,
                where: str, page: int, pages: int) -> PageLayout:
    """Draw one page: header (``where``: e.g. "Questionnaire 1 of 3 - Page 1 of 2"), the items
    and the navigation row (Back on later pages; Next, or the instrument's submit label on
    the last page)."""
    w, h = geometry.size_px
    s = _Sizes.of(geometry)
    image = Image.new("RGBA", (w, h), BG)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((1, 1, w - 2, h - 2), radius=s.gap, outline=BUTTON_EDGE, width=3)
    p = _Painter(draw, s, w)
    y = _header(p, inst, context, where)
    controls: list[Control] = []
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for row, item in enumerate(items):
        ih, ctl = _item_block(p, item, y, row, context, image, _check_note(item.id, context, inst))
        boxes[item.id] = (s.margin // 2, y - s.gap // 4, w - s.margin // 2, y + ih - s.gap // 2)
        controls += ctl
        y += ih
    nav_row = len(items)
    bh = s.button_h
    by = h - s.margin // 2 - bh
    bw = int(p.content_w * 0.28)
    message_box = (s.margin, by - _line_h(s.small) - s.gap // 3, w - s.margin, by - s.gap // 3)
    col = 0
    if page > 0:
        box = (s.margin, by, s.margin + bw, by + bh)
        p.button(box, "Back", s.body)
        controls.append(Control("back", box, nav_row, col, "Back", font_px=s.body))
        col += 1
    last = page == pages - 1
    label = inst.submit_label if last else "Next"
    box = (w - s.margin - bw, by, w - s.margin, by + bh)
    p.button(box, label, s.body)
    controls.append(Control("submit" if last else "next", box, nav_row, col, label, font_px=s.body))
    return PageLayout(image, controls, boxes, [it.id for it in items], message_box)


def compose(layout: PageLayout, answers: dict[str, Any], *, hover: Sequence[Control] = (),
            focus: Control | None = None, dwell: tuple[Control, float] | None = None,
            missing: Sequence[str] = (), message: str = "", message_color: tuple = ERROR) -> Image.Image:
    """The page with what changes drawn on: selected options (filled, accent colour), hovered
    controls (light outline), the key focus (yellow outline), dwell progress (a yellow bar
    filling under the dwelled control, ``fraction`` 0..1), items still missing an answer (red frame) and a
    one-line message above the buttons."""
    img = layout.image.copy()
    draw = ImageDraw.Draw(img)
    for item_id in missing:
        box = layout.item_boxes.get(item_id)
        if box is not None:
            draw.rounded_rectangle(box, radius=8, outline=ERROR, width=4)
    for c in layout.controls:
        if c.kind == "option" and c.item_id in answers and answers[c.item_id] == c.value:
            draw.rounded_rectangle(c.box, radius=max(4, (c.box[3] - c.box[1]) // 5), fill=ACCENT,
                                   outline=(255, 255, 255, 255), width=3)
            draw.text(c.center, c.label, font=font(c.font_px), fill=(255, 255, 255, 255), anchor="mm")
    for c in hover:
        draw.rounded_rectangle(c.box, radius=max(4, (c.box[3] - c.box[1]) // 5), outline=HOVER, width=4)
    if focus is not None:
        x0, y0, x1, y1 = focus.box
        draw.rounded_rectangle((x0 - 5, y0 - 5, x1 + 5, y1 + 5), radius=10, outline=FOCUS, width=4)
    if dwell is not None:                          # a bar filling along the control's bottom edge
        c, frac = dwell
        x0, y0, x1, y1 = c.box
        draw.rectangle((x0, y1 + 3, x1, y1 + 10), fill=BUTTON_EDGE)
        draw.rectangle((x0, y1 + 3, x0 + (x1 - x0) * min(1.0, max(0.0, frac)), y1 + 10), fill=FOCUS)
    if message:
        x0, y0, x1, y1 = layout.message_box
        size = max(12, round((y1 - y0) / 1.28))
        draw.text(((x0 + x1) / 2, y0), message, font=font(size), fill=message_color, anchor="ma")
    return img


def card(geometry: PanelGeometry, title: str, text: str) -> Image.Image:
    """A panel with one message (saving, thank you, cannot be answered here)."""
    w, h = geometry.size_px
    s = _Sizes.of(geometry)
    image = Image.new("RGBA", (w, h), BG)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((1, 1, w - 2, h - 2), radius=s.gap, outline=BUTTON_EDGE, width=3)
    p = _Painter(draw, s, w)
    y = h // 3
    y += p.text(w / 2, y, wrap(title, s.title, p.content_w), s.title, INK, anchor="ma")
    p.text(w / 2, y + s.gap, wrap(text, s.body, p.content_w), s.body, MUTED, anchor="ma")
    return image
