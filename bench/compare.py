"""imdi-watch beside urlwatch (cron: one process per check) and changedetection.io (a daemon) on
one local workload, side by side: time, CPU, memory, bytes stored, false alarms, and whether the
report says which municipality changed by how much.

The workload is a loopback HTTP server (127.0.0.1, port 0) that answers the page path with, in
order: the 12 November page (first check), unchanged ×N, noise-only ×N (the noise fixture with a
fresh CSRF token, nonce, asset version and build id per response: every body differs in bytes,
none in content), the 19 November revision (Bergen 182 → 192 …), then that revision unchanged ×N.
No ETag or Last-Modified is sent, so every check downloads and reads the whole page.

urlwatch and changedetection.io are installed by this script into their own venvs under
bench/out/ (never into the project's); a tool that cannot be installed or started is reported as
"not measured: <reason>" and the rest still runs.

How things are measured:
- cron tools: each check is one process; wall time around it, CPU and peak RSS from os.wait4
  (the child's own rusage: what a RUSAGE_CHILDREN delta gives), bytes stored = size of the tool's
  data folder after − before.
- daemons: CPU of the whole process tree from /proc/<pid>/stat (utime+stime, children included),
  sampled when the server sees each check's request. A check's CPU is all the daemon spent from
  its request to the next check's (its own work, the scheduler's, accounting that lands late),
  less the daemon's idle rate over that span, less this script's API calls in it (their cost
  measured by 30 calls after the first check). The idle rate is measured in quiet spells that
  start 3–8 s after a check, when start-up work is over: for changedetection.io two 5 s spells in
  the same process, for imdi-watch run a second instance on an hourly interval (the measured one
  checks every second and is never idle). /proc counts in 10 ms ticks, so a kind's figure is its
  total over all its checks divided by their number. RSS is VmRSS/VmHWM.
  changedetection.io's checks are triggered through its API (GET /api/v1/watch/<uuid>?recheck=1),
  one per second (it names snapshots by the second); imdi-watch run checks every second by itself.

Run: .venv/bin/python bench/compare.py            (about 8 minutes; --repeats 1 for a quick look)
     .venv/bin/python bench/compare.py --only cron --repeats 1 --checks 5
Writes bench/out/compare.md (and compare.json) and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CONFIGS = ROOT / "bench" / "compare"
OUT = ROOT / "bench" / "out"
PAGE_PATH = "/oppmoding"
IMDI_WATCH = Path(sys.executable).parent / "imdi-watch"
CLK_TCK = os.sysconf("SC_CLK_TCK")
URLWATCH_PACKAGES = ["urlwatch", "cssselect", "lxml"]
CHANGEDETECTION_PACKAGES = ["changedetection.io"]
# the noise fixture's per-render values, each replaced by a random one of the same kind
NOISE_TOKENS = {
    b"Yt8rX2mQ7pL0wK4zJ9vB1nC6sD3fH5gA0eUiOoPq": string.ascii_letters + string.digits,  # CSRF
    b"zZ9y-X8w7V6u5T4s3R2q1P": string.ascii_letters + string.digits,  # CSP nonce
    b"20211115.1": string.digits,  # asset ?v=
    b"g9e07b2d": "0123456789abcdef",  # build id comment
}
KINDS = ("first", "unchanged", "noise", "changed", "unchanged-after")


# --- the workload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    kind: str
    body: Callable[[], bytes]


def make_plan(checks: int, rng: random.Random) -> list[Step]:
    page_a = (FIXTURES / "page-2022-nn-a.html").read_bytes()
    noise = (FIXTURES / "page-2022-nn-a-noise.html").read_bytes()
    revised = (FIXTURES / "page-2022-revised.html").read_bytes()

    def fresh_noise() -> bytes:
        body = noise
        for token, alphabet in NOISE_TOKENS.items():
            value = "".join(rng.choice(alphabet) for _ in token).encode()
            if token == b"20211115.1":
                value = value[:8] + b"." + value[9:]
            body = body.replace(token, value)
        return body

    return (
        [Step("first", lambda: page_a)]
        + [Step("unchanged", lambda: page_a)] * checks
        + [Step("noise", fresh_noise)] * checks
        + [Step("changed", lambda: revised)]
        + [Step("unchanged-after", lambda: revised)] * checks
    )


def make_conditional_plan(checks: int) -> list[Step]:
    """The 304 case: the 12 November page with an ETag, then `checks` conditional checks that
    the server answers 304 Not Modified (to a client that sends the ETag back)."""
    page_a = (FIXTURES / "page-2022-nn-a.html").read_bytes()
    return [Step("first", lambda: page_a)] + [Step("not-modified", lambda: page_a)] * checks


@dataclass
class Served:
    index: int  # position in the plan (-1: after its end)
    kind: str
    at: float  # time.monotonic() of the request's arrival
    size: int
    status: int = 200


class Workload:
    """The loopback server: each GET of PAGE_PATH takes the plan's next step (the last one
    repeats after the end); robots.txt and anything else are 404. `on_request(index)` runs when a
    page request arrives, before the answer (the daemons' CPU samples)."""

    def __init__(self, plan: list[Step], *, etag: bool = False):
        self.plan = plan
        self.etag = etag  # send an ETag, and 304 to a request that sends it back
        self.served: list[Served] = []
        self.other: list[str] = []
        self.on_request: Callable[[int], None] | None = None
        self._cond = threading.Condition()
        workload = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.split("?")[0] != PAGE_PATH:
                    workload.other.append(self.path)
                    self._send(404, b"not here\n")
                    return
                index, step = workload._take()
                if workload.on_request is not None:
                    workload.on_request(index)
                body = step.body()
                status, headers = 200, {}
                if workload.etag:
                    headers["ETag"] = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                    if self.headers.get("If-None-Match") == headers["ETag"]:
                        status, body = 304, b""
                with workload._cond:
                    served = Served(index, step.kind, time.monotonic(), len(body), status)
                    workload.served.append(served)
                    workload._cond.notify_all()
                self._send(status, body, headers)

            def _send(
                self, status: int, body: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._next = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{PAGE_PATH}"

    def _take(self) -> tuple[int, Step]:
        with self._cond:
            index = self._next
            self._next += 1
        if index >= len(self.plan):
            return -1, Step("extra", self.plan[-1].body)
        return index, self.plan[index]

    def wait_served(self, count: int, timeout_s: float) -> Served:
        """Block until `count` page requests have been answered; the last of them."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.served) >= count, timeout=timeout_s):
                raise TimeoutError(f"the page was requested {len(self.served)} times, not {count}")
            return self.served[count - 1]

    def __enter__(self) -> Workload:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- measuring -------------------------------------------------------------------------------


def dir_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(ppid, CPU seconds incl. reaped children) of one process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2 :].split()  # rest[0] is field 3 of proc(5)
    ticks = sum(int(rest[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return int(rest[1]), ticks / CLK_TCK


def process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(int(entry.name))
            if stat is not None:
                parents.setdefault(stat[0], []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += parents.get(pid, [])
    return tree


def tree_cpu_s(root: int) -> float:
    return sum(stat[1] for pid in process_tree(root) if (stat := _proc_stat(pid)) is not None)


def status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def tree_rss_kb(root: int) -> int:
    return sum(status_kb(pid, "VmRSS") for pid in process_tree(root))


@dataclass
class Check:
    """One check by one tool."""

    kind: str
    wall_s: float | None = None
    cpu_s: float | None = None
    rss_kb: int | None = None
    stored: int = 0  # bytes the data folder grew by
    alarm: bool = False  # the tool said "changed"
    status: int | None = None  # what the server answered (200, 304)
    window_s: float | None = None  # daemons: from this check's request to the next one's
    cpu_raw_s: float | None = None  # daemons: CPU over window_s, nothing subtracted


@dataclass
class ToolRun:
    """One run of the workload by one tool (None fields: not measured)."""

    tool: str
    checks: list[Check] = field(default_factory=list)
    report: str = ""  # what the tool said about the changed page
    idle_cpu_per_s: float | None = None
    rss_first_kb: int | None = None
    rss_last_kb: int | None = None
    hwm_kb: int | None = None
    stored_total: int | None = None
    not_measured: str | None = None
    notes: list[str] = field(default_factory=list)


# --- installing the other tools --------------------------------------------------------------


def ensure_venv(name: str, packages: list[str], executable: str, *, install: bool) -> Path:
    """bench/out/venv-<name>/bin/<executable>, creating the venv if needed; RuntimeError if not."""
    venv = OUT / f"venv-{name}"
    exe = venv / "bin" / executable
    if exe.exists():
        return exe
    if not install:
        raise RuntimeError(f"{exe} is missing and --no-install was given")
    base = getattr(sys, "_base_executable", sys.executable)
    print(f"installing {' '.join(packages)} into {venv} …", file=sys.stderr)
    steps = [
        [base, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages],
    ]
    for command in steps:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            tail = " ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise RuntimeError(f"`{' '.join(command[-3:])}` failed: {tail}")
    if not exe.exists():
        raise RuntimeError(f"{' '.join(packages)} installed but {exe} is missing")
    return exe


def fill(template: str, **values: str) -> str:
    text = (CONFIGS / template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


# --- cron: one process per check -------------------------------------------------------------


@dataclass
class CronTool:
    name: str
    command: list[str]
    data: Path  # what the tool stores
    alarm: Callable[[int, str], bool]  # (exit code, stdout) → it reported a change
    cwd: Path
    env: dict[str, str] | None = None


# Every cron check is started by this small launcher process, not by the harness: a child's peak
# RSS (ru_maxrss) starts from the memory of the process it was forked from, so forking from this
# script (tens of MB) would put the harness's memory into every tool's figure. The launcher is a
# bare interpreter (-I -S), a few MB, below any tool's own peak; wait4 gives each child's own CPU.
LAUNCHER = r"""
import json, os, sys, time
for line in sys.stdin:
    job = json.loads(line)
    out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(job["cwd"])
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.execve(job["command"][0], job["command"], job["env"])
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    for fd in (out, err, null):
        os.close(fd)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall_s": wall,
                      "cpu_s": usage.ru_utime + usage.ru_stime, "rss_kb": usage.ru_maxrss}),
          flush=True)
"""


class Launcher:
    """The launcher process (see LAUNCHER): `run` one command, get its exit code, wall time, CPU
    and peak RSS, measured by the launcher with wait4 on that child alone."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", LAUNCHER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def rss_kb(self) -> int:
        return status_kb(self.process.pid, "VmRSS")

    def run(self, command: list[str], *, cwd: Path, env: dict[str, str] | None) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        job = {"command": command, "cwd": str(cwd), "env": dict(env or os.environ),
               "stdout": str(cwd / "stdout.txt"), "stderr": str(cwd / "stderr.txt")}  # fmt: skip
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        return dict(json.loads(self.process.stdout.readline()))

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)


_LAUNCHER: Launcher | None = None


def run_process(
    command: list[str], *, cwd: Path, env: dict[str, str] | None
) -> tuple[int, str, float, float, int]:
    """(exit code, stdout, wall s, CPU s, peak RSS KB) of one child process."""
    global _LAUNCHER
    if _LAUNCHER is None:
        _LAUNCHER = Launcher()
    done = _LAUNCHER.run(command, cwd=cwd, env=env)
    text = (cwd / "stdout.txt").read_text(encoding="utf-8", errors="replace")
    return done["code"], text, done["wall_s"], done["cpu_s"], done["rss_kb"]


def run_cron_rounds(tools: list[CronTool], workloads: list[Workload]) -> list[ToolRun]:
    """The tools' checks interleaved: round i runs step i of the plan once per tool, in turn,
    the order alternating round by round, so a busy spell of the machine falls on all of them."""
    runs = [ToolRun(tool.name) for tool in tools]
    plan = workloads[0].plan
    for index, step in enumerate(plan):
        order = list(range(len(tools)))
        if index % 2:
            order.reverse()
        for position in order:
            tool, workload, run = tools[position], workloads[position], runs[position]
            before = dir_bytes(tool.data)
            code, out, wall, cpu, rss = run_process(tool.command, cwd=tool.cwd, env=tool.env)
            served = workload.wait_served(index + 1, timeout_s=5)
            if served.kind != step.kind:
                raise RuntimeError(
                    f"{tool.name}: step {index} served {served.kind}, not {step.kind}"
                )
            check = Check(step.kind, wall, cpu, rss, dir_bytes(tool.data) - before)
            check.alarm = tool.alarm(code, out)
            check.status = served.status
            run.checks.append(check)
            if step.kind == "changed":
                run.report = out
            (tool.cwd / f"out-{index:02d}-{step.kind}.txt").write_text(out, encoding="utf-8")
    for tool, run in zip(tools, runs, strict=True):
        run.stored_total = dir_bytes(tool.data)
    return runs


def cron_tools(workdir: Path, url: str, *, install: bool) -> Iterator[CronTool | ToolRun]:
    """The cron tools, each with a fresh folder; a ToolRun with `not_measured` if unavailable."""
    folder = workdir / "imdi-watch-check"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(fill("imdi-watch.toml", url=url, interval_s="1800"))
    yield CronTool(
        "imdi-watch check",
        [str(IMDI_WATCH), "--config", "config.toml", "check", "--exit-code"],
        folder / "store",
        lambda code, out: code == 1,
        folder,
    )
    (folder / "store").mkdir(exist_ok=True)
    try:
        urlwatch = ensure_venv("urlwatch", URLWATCH_PACKAGES, "urlwatch", install=install)
    except RuntimeError as exc:
        for name in ("urlwatch (page)", "urlwatch (css: table)"):
            yield ToolRun(name, not_measured=str(exc))
        return
    for name, urls in (
        ("urlwatch (page)", "urlwatch-page.yaml"),
        ("urlwatch (css: table)", "urlwatch-table.yaml"),
    ):
        folder = workdir / name.replace(" ", "-").replace(":", "").replace("(", "").replace(")", "")
        (folder / "data").mkdir(parents=True)
        (folder / "urls.yaml").write_text(fill(urls, url=url))
        (folder / "config.yaml").write_text(fill("urlwatch-config.yaml"))
        (folder / "hooks.py").write_text("")
        yield CronTool(
            name,
            [
                str(urlwatch),
                "--urls",
                "urls.yaml",
                "--config",
                "config.yaml",
                "--cache",
                "data/cache.db",
                "--hooks",
                "hooks.py",
            ],
            folder / "data",
            lambda code, out: "CHANGED:" in out,
            folder,
            env={**os.environ, "HOME": str(folder)},  # nothing read from or written to ~
        )


def run_cron_case(
    folder: Path, plan: Callable[[], list[Step]], *, etag: bool, install: bool
) -> list[tuple[str, ToolRun]]:
    """Every cron tool through its own copy of the plan (its own server and data folder),
    interleaved round by round; a tool that cannot run is reported as not measured."""
    with contextlib.ExitStack() as stack:
        tools: list[CronTool] = []
        workloads: list[Workload] = []
        missing: list[ToolRun] = []
        for index in range(3):
            workload = stack.enter_context(Workload(plan(), etag=etag))
            tool = list(cron_tools(folder / f"tool-{index}", workload.url, install=install))[index]
            if isinstance(tool, ToolRun):
                missing.append(tool)
                continue
            tools.append(tool)
            workloads.append(workload)
        try:
            runs = run_cron_rounds(tools, workloads)
        except (RuntimeError, OSError, TimeoutError) as exc:
            runs = [ToolRun(tool.name, not_measured=str(exc)) for tool in tools]
    return [(run.tool, run) for run in [*runs, *missing]]


# --- daemons ---------------------------------------------------------------------------------


class Sampler:
    """CPU of a process tree, and the API calls made so far, at each page request's arrival (the
    server's hook) or on demand."""

    def __init__(self, pid: int):
        self.pid = pid
        self.api_calls = 0  # changedetection.io: calls made by this script
        self.arrivals: dict[int, tuple[float, float, int]] = {}  # index → (t, cpu s, api calls)

    def __call__(self, index: int) -> None:
        if index >= 0:
            self.arrivals[index] = self.now()

    def now(self) -> tuple[float, float, int]:
        return time.monotonic(), tree_cpu_s(self.pid), self.api_calls


def measure_idle(sampler: Sampler, *, settle_s: float, quiet_s: float) -> tuple[float, float]:
    """(CPU s, seconds) of a quiet spell after `settle_s` seconds of letting startup work end."""
    time.sleep(settle_s)
    start = sampler.now()
    time.sleep(quiet_s)
    end = sampler.now()
    return end[1] - start[1], end[0] - start[0]


def measure_api_call_s(sampler: Sampler, call: Callable[[], object], *, calls: int) -> float:
    """CPU s the daemon spends answering one of this script's API calls (idle included)."""
    start = sampler.now()
    for _ in range(calls):
        call()
    end = sampler.now()
    return (end[1] - start[1]) / calls


def run_daemon(
    name: str,
    workload: Workload,
    *,
    process: subprocess.Popen[bytes],
    sampler: Sampler,
    data: Path,
    trigger: Callable[[int], None],
    finished: Callable[[int], tuple[bool, bool]],
    min_gap_s: float,
    idle: Callable[[], tuple[float, float]] | None,
    api_call_s: Callable[[], float] | None,
) -> ToolRun:
    """Drive one daemon through the plan. `trigger(i)` starts check i (a no-op when the daemon
    schedules itself); `finished(i)` → (check i is done, it reported a change).

    A check's CPU is everything the daemon spent from its request's arrival to the next check's
    (its own work, the scheduler's, accounting that lands late), less the idle rate over that
    span and less this script's API calls in it. `idle()` measures a quiet spell (CPU s, s);
    `api_call_s()` the cost of one API call; both run once, after the first check.
    """
    run = ToolRun(name)
    idle_cpu = idle_s = 0.0
    api_cost = 0.0
    try:
        for index, step in enumerate(workload.plan):
            trigger(index)
            workload.wait_served(index + 1, timeout_s=60)
            arrived = sampler.arrivals[index][0]
            done, alarm = finished(index)
            while not done:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}")
                if time.monotonic() - arrived > 60:
                    raise RuntimeError(f"{name}: check {index} did not finish in 60 s")
                time.sleep(0.05)
                done, alarm = finished(index)
            check = Check(step.kind, alarm=alarm)
            check.rss_kb = tree_rss_kb(process.pid)
            check.stored = dir_bytes(data)
            run.checks.append(check)
            if index == 0:
                run.rss_first_kb = check.rss_kb
                if idle is not None:
                    cpu, seconds = idle()
                    idle_cpu, idle_s = idle_cpu + cpu, idle_s + seconds
                if api_call_s is not None:
                    api_cost = api_call_s()
            time.sleep(max(0.0, arrived + min_gap_s - time.monotonic()))
        time.sleep(max(min_gap_s, 0.5))
        final = sampler.now()
        if idle is not None and api_call_s is not None:  # a second quiet spell, at the end
            cpu, seconds = idle()
            idle_cpu, idle_s = idle_cpu + cpu, idle_s + seconds
        run.rss_last_kb = tree_rss_kb(process.pid)
        run.hwm_kb = status_kb(process.pid, "VmHWM")
    finally:
        workload.on_request = None
    run.idle_cpu_per_s = idle_cpu / idle_s if idle_s else 0.0
    sizes = [check.stored for check in run.checks]
    for check, before in zip(run.checks[1:], sizes, strict=False):
        check.stored -= before
    spans = [sampler.arrivals[i] for i in range(len(run.checks))] + [final]
    for index, check in enumerate(run.checks):
        (t0, cpu0, api0), (t1, cpu1, api1) = spans[index], spans[index + 1]
        check.window_s = t1 - t0
        check.cpu_raw_s = cpu1 - cpu0
        # not clamped at 0: a kind's mean must not be biased upwards
        check.cpu_s = (
            check.cpu_raw_s - run.idle_cpu_per_s * check.window_s - api_cost * (api1 - api0)
        )
    run.checks[0].cpu_s = run.checks[0].cpu_raw_s = None  # its span holds the idle measurements
    if api_cost:
        run.notes.append(f"{api_cost * 1000:.1f} ms CPU per API call, subtracted")
    return run


def stop_process(process: subprocess.Popen[bytes], *, timeout_s: float = 15) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def imdi_watch_idle(workdir: Path, *, settle_s: float, quiet_s: float) -> tuple[float, float]:
    """(CPU s, s) of an `imdi-watch run` idling between checks: a second instance on an hourly
    interval, after its first check (the main one checks too often to ever be idle)."""
    folder = workdir / "imdi-watch-run-idle"
    folder.mkdir(parents=True)
    with Workload(make_plan(1, random.Random(0))) as workload:
        (folder / "config.toml").write_text(
            fill("imdi-watch.toml", url=workload.url, interval_s="3600")
        )
        with open(folder / "stderr.txt", "wb") as err:
            process = subprocess.Popen(
                [str(IMDI_WATCH), "--config", "config.toml", "run"],
                cwd=folder,
                stdout=err,
                stderr=err,
            )
            try:
                workload.wait_served(1, timeout_s=60)
                return measure_idle(Sampler(process.pid), settle_s=settle_s, quiet_s=quiet_s)
            finally:
                stop_process(process)


def run_imdi_watch_daemon(
    workdir: Path, workload: Workload, *, interval_s: float, quiet_s: float
) -> ToolRun:
    folder = workdir / "imdi-watch-run"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text(
        fill("imdi-watch.toml", url=workload.url, interval_s=repr(interval_s))
    )
    help_text = subprocess.run([str(IMDI_WATCH), "run", "--help"], capture_output=True, text=True)
    if help_text.returncode != 0:
        return ToolRun("imdi-watch run", not_measured="`imdi-watch run` does not exist yet")
    idle = imdi_watch_idle(workdir, settle_s=3, quiet_s=2 * quiet_s)
    db = folder / "store" / "imdi-watch.db"

    def finished(index: int) -> tuple[bool, bool]:
        if not db.exists():
            return False, False
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("SELECT outcome FROM fetches ORDER BY id").fetchall()
        except sqlite3.OperationalError:
            return False, False
        finally:
            conn.close()
        if len(rows) <= index:
            return False, False
        return True, rows[index][0] == "new-revision"

    with open(folder / "stderr.txt", "wb") as err:
        process = subprocess.Popen(
            [str(IMDI_WATCH), "--config", "config.toml", "run"],
            cwd=folder,
            stdout=err,
            stderr=err,
        )
        sampler = Sampler(process.pid)
        workload.on_request = sampler
        try:
            run = run_daemon(
                "imdi-watch run",
                workload,
                process=process,
                sampler=sampler,
                data=folder / "store",
                trigger=lambda index: None,
                finished=finished,
                min_gap_s=0,
                idle=lambda: idle,
                api_call_s=None,
            )
        finally:
            code = stop_process(process)
    run.notes.append(f"exit {code} after SIGTERM")
    run.stored_total = dir_bytes(folder / "store")  # WAL checkpointed at exit
    report = subprocess.run(
        [str(IMDI_WATCH), "--config", "config.toml", "diff"], cwd=folder, capture_output=True
    )
    run.report = report.stdout.decode("utf-8", "replace")
    return run


def _api(base: str, key: str, path: str) -> Any:
    request = urllib.request.Request(base + path, headers={"x-api-key": key})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read().decode("utf-8")
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return body


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_changedetection(
    workdir: Path, workload: Workload, *, install: bool, quiet_s: float
) -> ToolRun:
    name = "changedetection.io"
    try:
        exe = ensure_venv(
            "changedetection", CHANGEDETECTION_PACKAGES, "changedetection.io", install=install
        )
    except RuntimeError as exc:
        return ToolRun(name, not_measured=str(exc))
    folder = workdir / "changedetection"
    data = folder / "data"
    data.mkdir(parents=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DISABLE_VERSION_CHECK": "true",  # no call home
        "ALLOW_IANA_RESTRICTED_ADDRESSES": "true",  # a 127.0.0.1 target is refused otherwise
        "HOME": str(folder),
    }
    env.pop("PLAYWRIGHT_DRIVER_URL", None)
    # -u adds our watch and, with it, skips the two default watches of public sites
    options = {"time_between_check": {"weeks": 52}, "time_between_check_use_default": False}
    command = [
        str(exe),
        "-d",
        str(data),
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
        "-l",
        "WARNING",
        "-u",
        workload.url,
        "-u0",
        json.dumps(options),
    ]
    state: dict[str, Any] = {"history_n": 0}
    with open(folder / "log.txt", "wb") as log:
        process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=log, env=env)
        sampler = Sampler(process.pid)
        workload.on_request = sampler  # its first check starts by itself, at once
        try:
            key, uuid = _changedetection_api(base, data, process)

            def api(path: str) -> Any:
                sampler.api_calls += 1
                return _api(base, key, path)

            def trigger(index: int) -> None:
                if index > 0:  # the first check runs by itself at start
                    api(f"/api/v1/watch/{uuid}?recheck=1")

            def finished(index: int) -> tuple[bool, bool]:
                watch = api(f"/api/v1/watch/{uuid}")
                done = int(watch.get("check_count") or 0) >= index + 1
                history_n = int(watch.get("history_n") or 0)
                alarm = done and index > 0 and history_n > state["history_n"]
                if done:
                    state["history_n"] = history_n
                return done, alarm

            run = run_daemon(
                name,
                workload,
                process=process,
                sampler=sampler,
                data=data,
                trigger=trigger,
                finished=finished,
                min_gap_s=1.1,  # snapshots are named by the second: one check per second
                idle=lambda: measure_idle(sampler, settle_s=8, quiet_s=quiet_s),
                api_call_s=lambda: measure_api_call_s(
                    sampler, lambda: _api(base, key, f"/api/v1/watch/{uuid}"), calls=30
                ),
            )
            history = _api(base, key, f"/api/v1/watch/{uuid}/history")
            stamps = sorted(history, key=int) if isinstance(history, dict) else []
            if len(stamps) >= 2:
                diff = _api(base, key, f"/api/v1/watch/{uuid}/difference/previous/latest")
                run.report = diff if isinstance(diff, str) else json.dumps(diff)
            run.notes.append(f"{len(stamps)} history snapshots")
        except (RuntimeError, OSError, urllib.error.URLError, TimeoutError) as exc:
            stop_process(process)
            return ToolRun(name, not_measured=f"{exc} (log: {folder / 'log.txt'})")
        finally:
            code = stop_process(process)
    run.notes.append(f"exit {code} after SIGTERM")
    run.stored_total = dir_bytes(data)
    return run


def _changedetection_api(
    base: str, data: Path, process: subprocess.Popen[bytes]
) -> tuple[str, str]:
    """The API key (from its datastore's settings) and our watch's uuid, once it answers."""
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"changedetection.io exited with {process.returncode} at start")
        if time.monotonic() > deadline:
            raise RuntimeError("changedetection.io did not answer within 90 s")
        key = None
        for settings in ("changedetection.json", "url-watches.json"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                key = json.loads((data / settings).read_text())["settings"]["application"][
                    "api_access_token"
                ]
                break
        if key:
            with contextlib.suppress(OSError, urllib.error.URLError):
                watches = _api(base, key, "/api/v1/watch")
                if isinstance(watches, dict) and watches:
                    return key, next(iter(watches))
        time.sleep(0.2)


# --- the report ------------------------------------------------------------------------------


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def of_kind(runs: list[ToolRun], kinds: tuple[str, ...], attr: str) -> list[float]:
    return [
        getattr(c, attr)
        for run in runs
        for c in run.checks
        if c.kind in kinds and getattr(c, attr) is not None
    ]


def names_delta(report: str) -> tuple[bool, bool]:
    """Does the report name Bergen, and show +10 on Bergen's line?"""
    bergen = [line for line in report.splitlines() if "Bergen" in line]
    return bool(bergen), any("+10" in line for line in bergen)


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 0.0005:  # idle subtraction can leave a hair below zero
        return "≈0 ms"
    return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.1f} ms"


def mib(kb: float | None) -> str:
    return "–" if kb is None else f"{kb / 1024:.1f} MiB"


def kbytes(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.1f} kB" if abs(value) >= 1000 else f"{value:.0f} B"


UNCHANGED = ("unchanged", "unchanged-after")


def spread(values: list[float], unit: Callable[[float | None], str] = lambda v: ms(v)) -> str:
    """'152 ms (140–171)': the median, and the range in brackets."""
    if not values:
        return "–"
    return f"{unit(median(values))} ({unit(min(values)).split()[0]}–{unit(max(values))})"


def ratio(ours: list[float], theirs: list[float]) -> str:
    if not ours or not theirs:
        return "–"
    return f"{(median(ours) or 0) / (median(theirs) or 1):.2f}×"


BASELINE = "urlwatch (page)"  # what the ratios are taken against


def cron_table(results: dict[str, list[ToolRun]], checks: int, repeats: int) -> list[str]:
    names = list(results)
    lines = [
        f"### Cron: one process per check, the tools interleaved round by round "
        f"({checks * 2 * repeats} unchanged, {checks * repeats} noise-only and {repeats} changed "
        "checks each; median (range))",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    base = [r for r in results.get(BASELINE, []) if r.not_measured is None]

    def row(label: str, cell: Callable[[list[ToolRun]], str]) -> None:
        cells = []
        for name in names:
            runs = [r for r in results[name] if r.not_measured is None]
            cells.append(cell(runs) if runs else "not measured")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for label, kinds in (("unchanged", UNCHANGED), ("noise-only", ("noise",)),
                         ("changed page", ("changed",))):  # fmt: skip
        for what, attr in (("CPU", "cpu_s"), ("wall", "wall_s")):
            row(f"{what}, {label} check", lambda r, k=kinds, a=attr: spread(of_kind(r, k, a)))
            row(
                f"… ratio to {BASELINE}",
                lambda r, k=kinds, a=attr: ratio(of_kind(r, k, a), of_kind(base, k, a)),
            )
    row("peak RSS (median, max)", lambda r: rss_cell(of_kind(r, KINDS, "rss_kb")))
    row("stored, first check", lambda r: kbytes(median(of_kind(r, ("first",), "stored"))))
    row("stored, unchanged check", lambda r: kbytes(median(of_kind(r, UNCHANGED, "stored"))))
    row("stored, noise-only check", lambda r: kbytes(median(of_kind(r, ("noise",), "stored"))))
    row("stored, new revision", lambda r: kbytes(median(of_kind(r, ("changed",), "stored"))))
    row(
        "false alarms on noise-only pages",
        lambda r: (
            f"{round(mean([sum(c.alarm for c in x.checks if c.kind == 'noise') for x in r]) or 0)} of {checks}"
        ),
    )
    row(
        "changed page reported",
        lambda r: (
            "yes" if all(c.alarm for x in r for c in x.checks if c.kind == "changed") else "no"
        ),
    )
    row(
        "names Bergen / shows +10",
        lambda r: "{} / {}".format(*("yes" if f else "no" for f in names_delta(r[0].report))),
    )
    return lines


def rss_cell(values: list[float]) -> str:
    return f"{mib(median(values))}, {mib(max(values))}" if values else "–"


def cron304_table(results: dict[str, list[ToolRun]], checks: int, repeats: int) -> list[str]:
    names = list(results)
    lines = [
        f"### Cron, 304 case: the server sends an ETag and answers {checks * repeats} "
        "conditional checks with 304 Not Modified (median (range))",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    base = [r for r in results.get(BASELINE, []) if r.not_measured is None]
    kinds = ("not-modified",)

    def row(label: str, cell: Callable[[list[ToolRun]], str]) -> None:
        cells = []
        for name in names:
            runs = [r for r in results[name] if r.not_measured is None]
            cells.append(cell(runs) if runs else "not measured")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row(
        "answered 304 (of the checks)",
        lambda r: (
            f"{sum(c.status == 304 for x in r for c in x.checks if c.kind in kinds)} "
            f"of {sum(c.kind in kinds for x in r for c in x.checks)}"
        ),
    )
    for what, attr in (("CPU", "cpu_s"), ("wall", "wall_s")):
        row(f"{what}, 304 check", lambda r, a=attr: spread(of_kind(r, kinds, a)))
        row(
            f"… ratio to {BASELINE}",
            lambda r, a=attr: ratio(of_kind(r, kinds, a), of_kind(base, kinds, a)),
        )
    row("peak RSS (median, max)", lambda r: rss_cell(of_kind(r, kinds, "rss_kb")))
    return lines


def daemon_table(results: dict[str, list[ToolRun]], checks: int, repeats: int) -> list[str]:
    names = list(results)
    total = 2 + 3 * checks
    lines = [
        f"### Daemon: {total} checks of one long-running process (CPU per check: the kind's total "
        f"over {repeats} run(s) ÷ its checks, idle and API calls subtracted)",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]

    def row(label: str, cell: Callable[[list[ToolRun]], str]) -> None:
        cells = []
        for name in names:
            runs = [r for r in results[name] if r.not_measured is None]
            cells.append(cell(runs) if runs else "not measured")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("CPU, unchanged check", lambda r: ms(mean(of_kind(r, UNCHANGED, "cpu_s"))))
    row(
        "… nothing subtracted (request to next request)",
        lambda r: ms(mean(of_kind(r, UNCHANGED, "cpu_raw_s"))),
    )
    row("CPU, noise-only check", lambda r: ms(mean(of_kind(r, ("noise",), "cpu_s"))))
    row("CPU, changed page", lambda r: ms(median(of_kind(r, ("changed",), "cpu_s"))))
    row(
        "idle CPU", lambda r: f"{1000 * (median([x.idle_cpu_per_s or 0 for x in r]) or 0):.1f} ms/s"
    )
    row("RSS after the first check", lambda r: mib(median([x.rss_first_kb or 0 for x in r])))
    row(f"RSS after {total} checks", lambda r: mib(median([x.rss_last_kb or 0 for x in r])))
    row("peak RSS (VmHWM)", lambda r: mib(median([x.hwm_kb or 0 for x in r])))
    row("stored after the run", lambda r: kbytes(median([x.stored_total or 0 for x in r])))
    row(
        "false alarms on noise-only pages",
        lambda r: (
            f"{round(mean([sum(c.alarm for c in x.checks if c.kind == 'noise') for x in r]) or 0)} of {checks}"
        ),
    )
    row(
        "changed page reported",
        lambda r: (
            "yes" if all(c.alarm for x in r for c in x.checks if c.kind == "changed") else "no"
        ),
    )
    row(
        "names Bergen / shows +10",
        lambda r: "{} / {}".format(*("yes" if f else "no" for f in names_delta(r[0].report))),
    )
    return lines


def evaluate(
    cron: dict[str, list[ToolRun]],
    daemon: dict[str, list[ToolRun]],
    cron304: dict[str, list[ToolRun]] | None = None,
) -> list[str]:
    """The targets of issue 8, each met / missed / not measured, with the figures compared."""
    out: list[str] = []

    def measured(results: dict[str, list[ToolRun]], name: str) -> list[ToolRun]:
        return [r for r in results.get(name, []) if r.not_measured is None]

    def verdict(
        label: str,
        ours: float | None,
        theirs: float | None,
        limit: float,
        unit: Callable[[float], str],
    ) -> None:
        if ours is None or theirs is None:
            out.append(f"- {label}: not measured")
            return
        if theirs <= 0:
            out.append(f"- {label}: not decidable ({unit(ours)} vs {unit(theirs)})")
            return
        ratio = ours / theirs
        state = "met" if ratio <= limit else "missed"
        out.append(
            f"- {label}: **{state}** ({unit(ours)} vs {unit(theirs)}, ratio {ratio:.2f}, target ≤ {limit:g})"
        )

    ours, theirs = measured(cron, "imdi-watch check"), measured(cron, "urlwatch (page)")
    css = measured(cron, "urlwatch (css: table)")
    for what, attr, limit in (("CPU", "cpu_s", 0.75), ("wall", "wall_s", 1.0)):
        for name, other in (("urlwatch (page)", theirs), ("urlwatch (css: table)", css)):
            verdict(
                f"cron: {what} per unchanged check ≤ {limit:g}× {name}'s",
                median(of_kind(ours, UNCHANGED, attr)) if ours else None,
                median(of_kind(other, UNCHANGED, attr)) if other else None,
                limit,
                ms,
            )
    cron304 = cron304 or {}
    ours304, theirs304 = measured(cron304, "imdi-watch check"), measured(cron304, BASELINE)
    for what, attr in (("CPU", "cpu_s"), ("wall", "wall_s")):
        verdict(
            f"cron, 304: {what} per check ≤ {BASELINE}'s (reported; no target)",
            median(of_kind(ours304, ("not-modified",), attr)) if ours304 else None,
            median(of_kind(theirs304, ("not-modified",), attr)) if theirs304 else None,
            1.0,
            ms,
        )
    run, cd = measured(daemon, "imdi-watch run"), measured(daemon, "changedetection.io")
    verdict(
        "run: CPU per unchanged check ≤ changedetection.io's",
        mean(of_kind(run, UNCHANGED, "cpu_s")) if run else None,
        mean(of_kind(cd, UNCHANGED, "cpu_s")) if cd else None,
        1.0,
        ms,
    )
    verdict(
        "run: CPU per changed page ≤ ¼ of changedetection.io's",
        median(of_kind(run, ("changed",), "cpu_s")) if run else None,
        median(of_kind(cd, ("changed",), "cpu_s")) if cd else None,
        0.25,
        ms,
    )
    for label, attr in (
        ("after the first check", "rss_first_kb"),
        ("after all checks", "rss_last_kb"),
    ):
        verdict(
            f"run: RSS {label} ≤ ½ of changedetection.io's",
            median([getattr(x, attr) for x in run]) if run else None,
            median([getattr(x, attr) for x in cd]) if cd else None,
            0.5,
            mib,
        )
    if run:
        growth = median([(x.rss_last_kb or 0) - (x.rss_first_kb or 0) for x in run]) or 0
        flat = growth <= 2048
        out.append(
            f"- run: RSS flat (grows ≤ 2 MiB over the run): **{'met' if flat else 'missed'}** "
            f"({growth / 1024:+.1f} MiB)"
        )
    else:
        out.append("- run: RSS flat: not measured")
    verdict(
        "stored bytes per new revision (raw capture included) ≤ ½ of urlwatch's whole-page snapshot",
        median(of_kind(ours, ("changed",), "stored")) if ours else None,
        median(of_kind(theirs, ("changed",), "stored")) if theirs else None,
        0.5,
        kbytes,
    )
    for results, name in ((cron, "imdi-watch check"), (daemon, "imdi-watch run")):
        runs = measured(results, name)
        if not runs:
            out.append(f"- {name}: zero false alarms on noise-only revisions: not measured")
            continue
        alarms = sum(c.alarm for r in runs for c in r.checks if c.kind == "noise")
        out.append(
            f"- {name}: zero false alarms on noise-only revisions: "
            f"**{'met' if alarms == 0 else 'missed'}** ({alarms})"
        )
    return out


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), Python {sys.version.split()[0]}"


def versions() -> str:
    found = []
    for venv, package in (("urlwatch", "urlwatch"), ("changedetection", "changedetection.io")):
        python = OUT / f"venv-{venv}" / "bin" / "python"
        if python.exists():
            done = subprocess.run(
                [
                    str(python),
                    "-c",
                    f"import importlib.metadata as m; print(m.version({package!r}))",
                ],
                capture_output=True,
                text=True,
            )
            found.append(f"{package} {done.stdout.strip() or '?'}")
    from scraper import __version__

    return ", ".join([f"imdi-watch {__version__}", *found])


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checks",
        type=int,
        default=13,
        help="N: unchanged, noise-only, unchanged-after checks (default 13: 41 checks in all)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of the whole workload per tool (default 3)"
    )
    parser.add_argument("--only", choices=["cron", "daemon"], help="one case only")
    parser.add_argument(
        "--quiet",
        type=float,
        default=5.0,
        help="daemons: seconds of each quiet spell that measures the idle rate (default 5)",
    )
    parser.add_argument(
        "--no-install", action="store_true", help="do not create the other tools' venvs"
    )
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "compare"
    shutil.rmtree(work, ignore_errors=True)
    cron: dict[str, list[ToolRun]] = {}
    cron304: dict[str, list[ToolRun]] = {}
    daemon: dict[str, list[ToolRun]] = {}
    for repeat in range(args.repeats):
        if args.only in (None, "cron"):
            for case, plan, etag in (
                (
                    "200",
                    lambda r=repeat: make_plan(args.checks, random.Random(args.seed + r)),
                    False,
                ),
                ("304", lambda: make_conditional_plan(args.checks), True),
            ):
                print(f"[{repeat + 1}/{args.repeats}] cron, {case} case …", file=sys.stderr)
                for name, result in run_cron_case(work / f"cron-{case}-{repeat}", plan, etag=etag,
                                                  install=not args.no_install):  # fmt: skip
                    (cron304 if case == "304" else cron).setdefault(name, []).append(result)
        if args.only in (None, "daemon"):
            for name in ("imdi-watch run", "changedetection.io"):
                print(f"[{repeat + 1}/{args.repeats}] {name} …", file=sys.stderr)
                with Workload(make_plan(args.checks, random.Random(args.seed))) as workload:
                    folder = work / f"daemon-{repeat}"
                    try:
                        if name == "imdi-watch run":
                            result = run_imdi_watch_daemon(
                                folder, workload, interval_s=1.0, quiet_s=args.quiet
                            )
                        else:
                            result = run_changedetection(
                                folder,
                                workload,
                                install=not args.no_install,
                                quiet_s=args.quiet,
                            )
                    except (RuntimeError, OSError, TimeoutError) as exc:
                        result = ToolRun(name, not_measured=str(exc))
                    outside = [p for p in workload.other if p != "/robots.txt"]
                    if outside:
                        result.notes.append(f"also asked for {sorted(set(outside))}")
                daemon.setdefault(name, []).append(result)

    lines = [
        "## imdi-watch beside urlwatch and changedetection.io",
        "",
        f"{machine()}; {versions()}. One loopback server, the same pages for every tool.",
        "",
    ]
    if cron:
        lines += [*cron_table(cron, args.checks, args.repeats), ""]
    if cron304:
        lines += [*cron304_table(cron304, args.checks, args.repeats), ""]
    if _LAUNCHER is not None:
        lines += [f"Cron checks were started by a launcher process of {mib(_LAUNCHER.rss_kb)} "
                  "(a child's peak RSS cannot be below its parent's at fork).", ""]  # fmt: skip
    if daemon:
        lines += [*daemon_table(daemon, args.checks, args.repeats), ""]
    skipped = [
        f"- {r.tool}: not measured: {r.not_measured}"
        for results in (cron, cron304, daemon)
        for runs in results.values()
        for r in runs[:1]
        if r.not_measured
    ]
    notes = [
        f"- {name}: {'; '.join(dict.fromkeys(n for r in runs for n in r.notes))}"
        for name, runs in daemon.items()
        if any(r.notes for r in runs)
    ]
    lines += ["### Targets", "", *evaluate(cron, daemon, cron304), ""]
    if skipped or notes:
        lines += ["### Notes", "", *skipped, *notes, ""]
    text = "\n".join(lines)
    (OUT / "compare.md").write_text(text, encoding="utf-8")
    (OUT / "compare.json").write_text(
        json.dumps(
            {
                "cron": {k: [asdict(r) for r in v] for k, v in cron.items()},
                "cron304": {k: [asdict(r) for r in v] for k, v in cron304.items()},
                "daemon": {k: [asdict(r) for r in v] for k, v in daemon.items()},
            },
            indent=1,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    print(text)


if __name__ == "__main__":
    main()
