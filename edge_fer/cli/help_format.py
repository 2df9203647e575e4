"""One fix to how typer renders ``--help``, applied once before the app is built.

typer 0.29 (seen with 0.29.2) prints each option's value type beside it, and a flag gets ``<bool>`` too
(``--force --no-force <bool>``, even typer's own ``--help <bool>``), as if it took a value. It does not
(``--force true`` is an error), so flags are shown with no type, as typer 0.27 showed them.
"""

from __future__ import annotations

from typing import Any


def hide_flag_types() -> None:
    """Make typer's rich help show no value type for flags (idempotent; a no-op on typers without the hook)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "hides_flag_types", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.hides_flag_types = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
