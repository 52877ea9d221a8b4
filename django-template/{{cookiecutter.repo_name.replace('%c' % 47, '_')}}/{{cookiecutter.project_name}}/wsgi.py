"""WSGI entry point for gunicorn: ``gunicorn {{ cookiecutter.project_name }}.wsgi``."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.project_name }}.settings")

application = get_wsgi_application()
{%- if cookiecutter.use_newrelic == "yes" %}

# New Relic: on only when NEW_RELIC_LICENSE_KEY is set (configured by NEW_RELIC_* variables).
if os.environ.get("NEW_RELIC_LICENSE_KEY"):
    import newrelic.agent

    newrelic.agent.initialize()
    application = newrelic.agent.WSGIApplicationWrapper(application)
{%- endif %}
