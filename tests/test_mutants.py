"""``make mutate`` stays usable: every planted bug still finds the code it changes (a
refactor that moves a line makes its mutant stale, and the mutation score silently
shrinks)."""

from __future__ import annotations

import pytest

from tests.mutants import main


def test_every_mutant_still_applies(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--check"])
    out = capsys.readouterr().out
    assert code == 0, out
