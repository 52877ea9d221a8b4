"""Test support for the upgrade bot: a fake GitHub/GitLab API on loopback and GitHub's OpenAPI check."""
