"""Moments: turns a raw phone video into a short highlight reel."""

__version__ = "0.1.0"
