"""Django project package of {{ cookiecutter.repo_name }}."""
