"""Sub-commands beyond `decode`; each module adds its parser in `register`."""

from __future__ import annotations

import argparse


def register_all(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Hook for commands that live in their own modules."""
