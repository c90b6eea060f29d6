"""Widgets of the console, grouped by the pane they render."""
