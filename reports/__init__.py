"""Rendering run directories into self-contained HTML reports."""

from reports.render import render_report

__all__ = ["render_report"]
