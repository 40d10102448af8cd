"""docs/errors.md is the exception tree the code defines: regenerated, it does not change."""

from __future__ import annotations

from tests.docs_gen import ERRORS_PAGE, exception_classes, render_errors


def test_the_errors_page_is_what_the_classes_generate() -> None:
    assert ERRORS_PAGE.read_text(encoding="utf-8") == render_errors(), (
        "docs/errors.md is stale: run `.venv/bin/python -m tests.docs_gen`"
    )


def test_every_project_error_derives_from_pairs_error_or_says_why_not() -> None:
    from shared.errors import PairsError

    outside = {
        cls.__name__
        for cls in exception_classes()
        if not issubclass(cls, PairsError) and not issubclass(cls, Warning)
    }
    assert outside == {"SessionDeferred"}  # a signal, not an error: docs/errors.md
