"""What the console and replay apps do for the terminals an operator reaches over SSH.

- ``NO_COLOR`` drops colour altogether.  Textual (8.2.8) answers it with its Monochrome
  filter, which turns colours into greys (colour escapes all the same) and raises
  AttributeError on the first segment without a style, so the console crashed on start.
  Its NoColor filter removes colour and keeps bold, dim and reverse: what NO_COLOR asks.
- ``TERM=linux`` (the Linux virtual console, a serial line to a rescue shell) draws only
  the 256 glyphs of its font, the PC's code page 437 unless someone loaded another.
  Textual does nothing for it (rounded borders, the progress bar's half lines, the
  scrollbar's blocks come out as diamonds), and neither do our marks (✔ ✘ … ▶): a line
  filter swaps each for a code page 437 glyph of the same width at the last moment.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.segment import Segment
from textual.app import App
from textual.color import Color
from textual.filter import LineFilter, Monochrome, NoColor

CP437_GLYPHS = frozenset(bytes(range(0x80, 0x100)).decode("cp437")) | frozenset(
    "☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼⌂")
"""The non-ASCII glyphs a Linux console's default font can draw (the codec reads 0x01 to
0x1f and 0x7f as control codes: their glyphs are listed by hand)."""

LINUX_CONSOLE_GLYPHS = str.maketrans({
    "✔": "√", "✓": "√", "✘": "x", "✗": "x", "…": "~", "▶": "►", "▸": "►", "◀": "◄",
    "━": "─", "╸": "─", "╺": "─", "╴": "─", "╶": "─", "┃": "│", "╹": "│", "╻": "│",
    "╭": "┌", "╮": "┐", "╰": "└", "╯": "┘",
    "▁": "▄", "▂": "▄", "▃": "▄", "▅": "█", "▆": "█", "▇": "█", "▔": "▀", "▏": "▌", "▕": "▐",
    "⏵": "►", "⏴": "◄", "⌃": "^", "⏎": "←", "—": "-", "–": "-", "⚠": "!", "✚": "+", "×": "x",
})
"""Each glyph we or Textual draw that code page 437 lacks, and one of the same width it
has."""


class LinuxConsoleGlyphs(LineFilter):
    """Swap glyphs the Linux console cannot draw for code page 437 ones."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        table = LINUX_CONSOLE_GLYPHS
        return [Segment(text.translate(table), style, control)
                for text, style, control in segments]


def is_linux_console(term: str | None) -> bool:
    return (term or "").split("-")[0] == "linux"


class TerminalApp(App[int]):
    """An App that honours NO_COLOR without crashing and draws on a Linux console."""

    def __init__(self) -> None:
        super().__init__()
        self._no_color_filter = NoColor()
        self._glyph_filter = LinuxConsoleGlyphs() if is_linux_console(
            os.environ.get("TERM")) else None

    def get_line_filters(self) -> Sequence[LineFilter]:
        filters = [self._no_color_filter if isinstance(f, Monochrome) else f
                   for f in super().get_line_filters()]
        if self._glyph_filter is not None:
            filters.append(self._glyph_filter)
        return filters
