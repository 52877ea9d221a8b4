"""The baked service itself: `npm ci`, `npm test`, `npm run lint`, `npm start` and shutdown.

One `npm ci` per session (the defaults bake); the all-options bake reuses its node_modules.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from express_fixtures import all_on_service, express_bakes, installed_service  # noqa: F401 (fixtures)
from express_helpers import free_port, node_test_counts, npm_env, run

SHUTDOWN_LIMIT_S = 5.0
UNIT_TESTS = 15  # test/*.test.js of the template


def test_npm_ci_installs_from_the_lock_file(installed_service):
    project = installed_service["path"]
    assert (project / "node_modules" / "express" / "package.json").is_file()
    express = json.loads((project / "node_modules" / "express" / "package.json").read_text(encoding="utf-8"))
    assert express["version"].startswith("5."), "Express 5"
    assert not (project / "package-lock.json").read_text(encoding="utf-8").count('"resolved"')
    print(f"npm ci: {installed_service['seconds']:.1f} s")


@pytest.mark.parametrize("script", ["test", "lint"])
def test_npm_scripts_pass_on_the_defaults_bake(installed_service, script):
    proc = run(["npm", "run", script], installed_service["path"], timeout=300)
    assert proc.returncode == 0, proc.stdout
    if script == "test":
        assert node_test_counts(proc.stdout) == (UNIT_TESTS, 0)


@pytest.mark.parametrize("script", ["test", "lint"])
def test_npm_scripts_pass_on_the_all_options_bake(all_on_service, script):
    proc = run(["npm", "run", script], all_on_service, timeout=300)
    assert proc.returncode == 0, proc.stdout
    if script == "test":
        assert node_test_counts(proc.stdout) == (UNIT_TESTS, 0)


def test_lint_fails_on_a_lint_error(installed_service, tmp_path):
    """The lint script is not a no-op: an unused variable fails it."""
    bad = installed_service["path"] / "src" / "lint_probe.js"
    bad.write_text("'use strict';\n\nconst unused = 1;\n", encoding="utf-8")
    try:
        proc = run(["npm", "run", "lint"], installed_service["path"], timeout=300)
    finally:
        bad.unlink()
    assert proc.returncode != 0
    assert "no-unused-vars" in proc.stdout


def test_monitoring_agents_load_only_when_configured(all_on_service):
    show = "console.log(JSON.stringify(require('./src/instrument').enabled))"
    off = run(["node", "-e", show], all_on_service, timeout=60)
    assert off.returncode == 0, off.stdout
    assert json.loads(off.stdout.strip().splitlines()[-1]) == []
    # NEW_RELIC_ENABLED=false: the agent module loads (Node version support) but never connects;
    # a Sentry DSN on a reserved name that cannot resolve, and no event is sent.
    on = run(["node", "-e", show], all_on_service, env=npm_env(
        NEW_RELIC_LICENSE_KEY="0" * 40, NEW_RELIC_ENABLED="false", NEW_RELIC_LOG_ENABLED="false",
        SENTRY_DSN="https://publickey@sentry.example.invalid/1"), timeout=60)
    assert on.returncode == 0, on.stdout
    printed = [line for line in on.stdout.splitlines() if line.startswith("[")]
    assert printed and json.loads(printed[-1]) == ["newrelic", "sentry"], on.stdout


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies waiting for a reaper do not count)."""
    proc_root = Path("/proc")
    if not proc_root.is_dir():  # not Linux: fall back to signal 0, which also sees zombies
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as res:  # noqa: S310 - loopback only
        return res.status, res.read()


def test_npm_start_serves_healthz_passes_e2e_and_stops_on_sigterm(installed_service, tmp_path):
    project: Path = installed_service["path"]
    port = free_port()
    log = (tmp_path / "service.log").open("w+", encoding="utf-8")
    proc = subprocess.Popen(["npm", "start"], cwd=project, env=npm_env(PORT=str(port), HOST="127.0.0.1"),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200, open(log.name, encoding="utf-8").read()
        assert json.loads(body) == {"status": "ok"}

        e2e = run(["npm", "run", "test:e2e"], project, env=npm_env(BASE_URL=f"http://127.0.0.1:{port}"), timeout=120)
        assert e2e.returncode == 0, e2e.stdout
        assert node_test_counts(e2e.stdout) == (4, 0)

        # As a container runtime or a terminal does: the signal goes to the process group
        # (npm itself does not pass SIGTERM on to the node process it started).
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=SHUTDOWN_LIMIT_S + 5)
        # npm may exit first: the service has stopped when no process of the group is left
        while _group_alive(proc.pid) and time.monotonic() - started < SHUTDOWN_LIMIT_S + 5:
            time.sleep(0.02)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None or _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log.seek(0)
    lines = [json.loads(line) for line in log.read().splitlines() if line.startswith("{")]
    messages = [line["msg"] for line in lines]
    print(f"shutdown after SIGTERM: {elapsed:.2f} s")
    assert elapsed < SHUTDOWN_LIMIT_S
    assert messages[0] == "listening" and messages[-2:] == ["shutting down", "stopped"], messages
    assert lines[-2]["signal"] == "SIGTERM"
    # the node process is gone, not orphaned behind npm
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/healthz")


def test_sigterm_lets_an_in_flight_request_finish(installed_service):
    """`node src/server.js` (the image's command): a request still being received when SIGTERM
    arrives gets its response, then the process exits 0."""
    project: Path = installed_service["path"]
    port = free_port()
    proc = subprocess.Popen(["node", "src/server.js"], cwd=project, env=npm_env(PORT=str(port), HOST="127.0.0.1"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert json.loads(proc.stdout.readline())["msg"] == "listening"
        body = b'{"name": "in flight"}'
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5])
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert proc.poll() is None, "exited with a request in flight"
            sock.sendall(body[5:])
            response = b""
            while chunk := sock.recv(65536):
                response += chunk
        assert proc.wait(timeout=SHUTDOWN_LIMIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert response.startswith(b"HTTP/1.1 201 "), response[:200]
    assert b'"name":"in flight"' in response
