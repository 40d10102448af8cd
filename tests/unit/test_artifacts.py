"""Staged artifacts: all files of a run or none, and every emitted config kept by its id."""

from __future__ import annotations

from pathlib import Path

import pytest

from research.artifacts import STAGING_PREFIX, archive_config, prepare_base_dir, staged
from research.layout import ArtifactLayout
from shared.errors import DataError


def _snapshot(base: Path) -> dict[str, bytes]:
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def test_a_successful_stage_moves_every_file_into_place_and_leaves_no_staging(
    tmp_path: Path,
) -> None:
    layout = ArtifactLayout(tmp_path / "base")
    with staged(layout) as stage:
        stage.layout.ensure_dirs()
        stage.layout.cleaned_prices.write_text("date,A\n")
        stage.layout.pairs_csv.write_text("asset_1,asset_2\n")
        assert not layout.cleaned_prices.exists()  # nothing visible before the end
    assert layout.cleaned_prices.read_text() == "date,A\n"
    assert layout.pairs_csv.read_text() == "asset_1,asset_2\n"
    assert layout.reports_dir.is_dir()  # the layout's folders, even empty
    assert not list(layout.base_dir.glob(f"{STAGING_PREFIX}*"))
    assert stage.final(stage.layout.pairs_csv) == layout.pairs_csv


def test_a_failing_stage_leaves_the_base_directory_exactly_as_it_was(tmp_path: Path) -> None:
    layout = ArtifactLayout(tmp_path / "base")
    layout.ensure_dirs()
    layout.cleaned_prices.write_text("old prices\n")
    layout.config_json.write_text("old config\n")
    before = _snapshot(layout.base_dir)
    with pytest.raises(DataError, match="the screen failed"), staged(layout) as stage:
        stage.layout.ensure_dirs()
        stage.layout.cleaned_prices.write_text("new prices\n")
        raise DataError("the screen failed")
    assert _snapshot(layout.base_dir) == before
    assert sorted(p.name for p in layout.base_dir.iterdir()) == ["config", "data", "reports"]


def test_an_unreadable_config_is_archived_under_the_hash_of_its_bytes(tmp_path: Path) -> None:
    layout = ArtifactLayout(tmp_path)
    layout.ensure_dirs()
    layout.config_json.write_text("{not json")
    archived = archive_config(layout)
    assert archived is not None and archived.name.startswith("unreadable-")
    assert archived.read_text() == "{not json"


def test_a_base_dir_that_is_a_file_or_under_a_file_is_refused_by_name(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("x")
    with pytest.raises(DataError, match=r"--base-dir .*f: is a file, not a directory"):
        prepare_base_dir(a_file)
    with pytest.raises(DataError, match=r"--base-dir .*f/sub: cannot create it"):
        prepare_base_dir(a_file / "sub")
