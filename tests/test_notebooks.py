"""The notebooks run top to bottom without an error (nbclient, a fresh kernel each)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture(autouse=True)
def _tracking_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about tracking: on, whatever the suite's default."""
    monkeypatch.delenv("TVMFORGE_NO_TRACK", raising=False)


@pytest.mark.parametrize("name", ["01_explore_a_model.ipynb", "02_compare_runs.ipynb"])
def test_notebook_runs(name: str, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert images, f"{name} drew no plot"
    nbformat.write(notebook, tmp_path / name)  # executed copy, for a look after a failure
