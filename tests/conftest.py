import pytest


@pytest.fixture(autouse=True)
def playground_home(tmp_path, monkeypatch):
    """Every test gets its own PLAYGROUND_HOME, so runs and data never touch the user's."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PLAYGROUND_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def forget_custom_table():
    """A table given to dataset "custom" lives for the process: drop it after each test."""
    yield
    from playground import data
    data.use_table(None)
