"""Post-generation hook: drop files of options that are off, write cookiepatcher.json (logic: hooks/service_hooks.py)."""
import json
import os
import sys
from pathlib import Path

CONTEXT = json.loads({{ cookiecutter | jsonify | tojson }})


def _service_hooks():
    """Import service_hooks from the template's hooks folder (cookiecutter runs a temp copy of this file)."""
    repo_dir = CONTEXT["_repo_dir"]
    candidates = [repo_dir] if os.path.isabs(repo_dir) else []
    try:  # cookiecutter's cwd is the template folder while hooks run
        candidates.append(os.readlink(f"/proc/{os.getppid()}/cwd"))
    except OSError:
        pass
    candidates.append(os.path.join(os.environ.get("PWD", os.getcwd()), repo_dir))
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "hooks", "service_hooks.py")):
            sys.path.insert(0, os.path.join(candidate, "hooks"))
            import service_hooks
            return service_hooks, os.path.abspath(candidate)
    sys.exit(f"error: cannot find hooks/service_hooks.py of the template at {repo_dir}")


if __name__ == "__main__":
    hooks, template_dir = _service_hooks()
    sys.exit(hooks.post_gen(CONTEXT, Path.cwd(), Path(template_dir)))
