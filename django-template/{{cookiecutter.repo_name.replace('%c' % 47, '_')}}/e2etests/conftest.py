"""End-to-end tests run against a live deployment: ``E2E_BASE_URL`` (default http://127.0.0.1:8000).

``E2E_INSECURE=1`` skips TLS certificate checks (an idle blue/green environment is reached
by its Elastic Beanstalk host name, which its certificate does not name).
"""
import os

import pytest
import requests


@pytest.fixture(scope="session")
def base_url() -> str:
    return os.environ.get("E2E_BASE_URL", "http://127.0.0.1:8000").rstrip("/")


@pytest.fixture(scope="session")
def http() -> requests.Session:
    session = requests.Session()
    session.verify = os.environ.get("E2E_INSECURE", "") not in ("1", "true", "yes")
    return session
