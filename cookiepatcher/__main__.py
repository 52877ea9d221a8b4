"""``python -m cookiepatcher`` runs the CLI."""
from cookiepatcher.cli import run

run()
