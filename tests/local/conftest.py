"""Fixtures of the local provider's tests: the sample shop with a folder per site."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.places import Places, close_places, open_places


@pytest.fixture
def places(shop_file: Path, tmp_path: Path) -> Iterator[Places]:
    """The shop as places under the test's folder; every process stopped at the end."""
    shop = open_places(shop_file, tmp_path)
    yield shop
    close_places(shop)
