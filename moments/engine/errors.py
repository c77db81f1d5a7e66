"""The engine's error types: one for bad input, one for cancellation."""


class EngineError(Exception):
    """Input the engine cannot turn into a reel. The message is meant for a person to read."""


class Cancelled(Exception):
    """The caller asked the engine to stop; raised at the next progress check."""
