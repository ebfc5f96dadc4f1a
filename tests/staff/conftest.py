"""Fixtures of the staff pages' tests."""
from __future__ import annotations

import pytest

from portal.models import Role


@pytest.fixture
def manager(client, login, make_staff, site):
    """A manager of the test module's `site`, signed in on `client` (a module with another site overrides this)."""
    user = make_staff(role=Role.MANAGER, sites=[site])
    login.staff(user)
    return user
