"""The engine's error types: one for bad input, one for cancellation."""

from __future__ import annotations


class EngineError(Exception):
    """Input the engine cannot turn into a reel, said for a person.

    ``reason`` is the sentence about the input ("is a text file, not a video"); ``file`` names
    the file it is about, when one is. ``str()`` joins them ("clip.mp4: is a text file, not a
    video"); a service showing another name for the file (the one its user gave) uses
    :meth:`about` instead of taking the text apart.
    """

    def __init__(self, reason: str, file: str | None = None) -> None:
        # Both in args, so the error crosses a process boundary (pickle) with its fields.
        super().__init__(reason, file)
        self.reason = reason
        self.file = file

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}" if self.file else self.reason

    def about(self, name: str) -> str:
        """The message with the file called ``name`` ("Your upload" reads as a subject)."""
        return f"{name}: {self.reason}" if self.file else self.reason


class Cancelled(Exception):
    """The caller asked the engine to stop; raised at the next progress check."""
