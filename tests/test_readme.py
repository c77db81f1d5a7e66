"""The README is part of the product: its settings table and test command must stay true."""

from __future__ import annotations

import re

from moments.service.settings import settings_table
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_settings_table_lists_every_setting_as_the_code_defines_it() -> None:
    # Regenerate with: python -m moments.service.settings, pasted between the markers.
    found = re.search(r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", README, re.S)
    assert found, "README lost its settings table markers"
    assert found.group(1) == settings_table()


def test_ci_runs_the_readme_test_command() -> None:
    assert "bash scripts/test" in README
    assert "bash scripts/test" in (ROOT / ".ci" / "run").read_text()
