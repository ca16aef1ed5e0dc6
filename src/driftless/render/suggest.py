"""Did-you-mean hints for misspelt names. Pure."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, known: Iterable[object]) -> str | None:
    """``did you mean 'x'?`` for the closest known name, or None."""
    choices = [str(k) for k in known]
    import difflib  # only when there is a mistake to suggest for

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
