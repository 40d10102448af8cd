"""docs/operations.md's alert table lists every alert code with its default severity."""

from __future__ import annotations

from daemon.monitoring.alerts import AlertCode
from tests.docs_markdown import REPO, section, table_rows

PAGE = REPO / "docs" / "operations.md"


def test_the_alert_table_is_the_alert_codes_with_their_default_severity() -> None:
    rows = table_rows(section(PAGE.read_text(encoding="utf-8"), "Alerts"))
    documented = {row[0].strip("`"): row[1] for row in rows}
    assert documented == {code.value: code.default_severity.value for code in AlertCode}
