"""Meeting titles: the 200-character limit counts what was sent, as the API description says."""

from __future__ import annotations

import pytest

from rooms.meetings.values import MAX_TITLE, title


def test_title_is_trimmed() -> None:
    assert title("  Ward round \t") == "Ward round"


@pytest.mark.parametrize("value", ["", "   ", None, 5, "\t" + "x" * MAX_TITLE])
def test_blank_non_string_and_over_long_titles_are_refused(value: object) -> None:
    with pytest.raises(Exception) as err:
        title(value)
    assert getattr(err.value, "code", None) == "bad_request"


def test_a_title_of_exactly_the_limit_is_accepted() -> None:
    assert title("x" * MAX_TITLE) == "x" * MAX_TITLE
