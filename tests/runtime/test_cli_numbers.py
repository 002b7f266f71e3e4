"""Numbers given on the command line are finite and positive too: usage error (exit 2) naming the option."""

from __future__ import annotations

import pytest

from edge_agent.cli import main


@pytest.mark.parametrize("argv", [["demo", "--fps", "nan"], ["demo", "--fps", "inf"], ["demo", "--fps", "0"],
                                  ["demo", "--fps", "1e9"],  # rendered without end until the kernel killed it
                                  ["run", "-c", "x.yaml", "--max-seconds", "nan"],
                                  ["run", "-c", "x.yaml", "--max-seconds", "-1"],
                                  ["run", "-c", "x.yaml", "--max-seconds", "1e300"]])  # the timer's OverflowError
def test_non_finite_or_non_positive_option_is_a_usage_error(argv: list[str], capsys) -> None:  # noqa: ANN001
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert argv[-2] in err and "finite number above 0 and at most" in err, err
