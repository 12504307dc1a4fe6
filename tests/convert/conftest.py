"""Shared (expensive-to-trace) abstract variable trees of the full R50 model."""
import pytest

from tests.convert import model_fixtures


@pytest.fixture(scope="session")
def r50_link_all():
  return model_fixtures.abstract(model_fixtures.config(link_all_stages=True))


@pytest.fixture(scope="session")
def r50_link_last():
  return model_fixtures.abstract(model_fixtures.config(link_all_stages=False))
