"""A small process that runs commands for the benchmark and reports their ``wait4`` usage.

Why: Linux keeps a child's peak RSS from before ``exec``, and a child forked (or vforked)
from the benchmark shares the benchmark's memory until then, so measuring from the big
benchmark process would report its own size. This process stays small, so the peak RSS
it reports is the tool's.

Protocol: one JSON object a line on stdin ``{"cmd": [...], "cwd": str, "env": {...},
"log": str}``; one JSON line back ``{"rc": int, "wall": s, "maxrss_kib": int, "cpu": s}``.
"""
import json
import os
import subprocess
import sys
import time


def main() -> None:
    for line in sys.stdin:
        job = json.loads(line)
        with open(job["log"], "ab") as out:
            out.write(("$ " + " ".join(job["cmd"]) + "\n").encode())
            out.flush()
            start = time.perf_counter()
            proc = subprocess.Popen(job["cmd"], cwd=job["cwd"], env=job["env"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            proc.returncode = rc = os.waitstatus_to_exitcode(status)
            out.write(f"[exit {rc}, {wall:.3f} s, maxrss {usage.ru_maxrss} KiB]\n".encode())
        reply = {"rc": rc, "wall": wall, "maxrss_kib": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
