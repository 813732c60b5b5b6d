"""The one ``X,Y,W,H`` parser, and negative coordinates on every command line that takes it."""

from __future__ import annotations

import pytest

from latexsnip import cli
from latexsnip.region import join_region_values, parse_region


def test_parse_accepts_negative_origin():
    assert parse_region("-10,-10,50,50") == (-10, -10, 50, 50)
    assert parse_region(" -1920, 0, 30 ,40") == (-1920, 0, 30, 40)


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "0,0,0,5", "0,0,5,-5", "1,2,3,4,5", ""])
def test_parse_rejects(text):
    with pytest.raises(ValueError):
        parse_region(text)


@pytest.mark.parametrize("argv", [["snip", "--region", "-10,-10,50,50"],
                                  ["snip", "--region=-10,-10,50,50"]])
def test_cli_passes_negative_regions(argv, monkeypatch):
    import latexsnip.app as app

    seen = []
    monkeypatch.setattr(app, "run_snip", lambda region, rest, launch=True: seen.append((region, rest)) or 0)
    assert cli.main(argv) == 0
    assert seen == [((-10, -10, 50, 50), [])]


def test_cli_reports_a_bad_region(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["snip", "--region", "1,2,3"])
    assert info.value.code == 2 and "X,Y,W,H" in capsys.readouterr().err


def test_join_leaves_other_arguments_alone():
    assert join_region_values(["--region", "-x"]) == ["--region", "-x"]
    assert join_region_values(["a", "--region", "1,2,3,4", "b"]) == ["a", "--region=1,2,3,4", "b"]
