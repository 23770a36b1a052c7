"""The project's error for bad input, which every room raises and the UI and the CLI show as it is."""

from __future__ import annotations


class SaifError(ValueError):
    """Bad input to saif_ui (an argument, a setting, a file, a request): the message says what is wrong and what would
    be right. A ValueError, so callers that expect one keep working; any exception that is not a `SaifError` is a
    bug, and the app reports it as one instead of blaming the user."""


class PromptTooLong(SaifError):
    """A rendered prompt longer than the engine's `max_prompt_tokens`: refused before the model runs, with its length
    and the limit (a request's cost is bounded by its length)."""
