"""What the comparison scripts share (bench/run.py, video.py, mlserver.py): the servers
they start, pinned to a CPU; the clients that drive them, each run pinned to the other
CPU, with the host's steal time read around every run; and the head of every report.

The clients (--clients):

- `load`: bench/load, the Rust load tool, with the headers grpcio sends on every call
  (grpc-accept-encoding: identity, deflate, gzip; grpcio's user-agent), as the users'
  clients do (tritonclient sends the same two: it is grpcio underneath);
- `bare`: bench/load --bare-headers, no grpc-accept-encoding and tonic's user-agent, what
  the benchmarks measured before: a server that compresses only for clients that ask
  shows a lower cost here than its users see;
- `grpcio`: bench/python/grpcio_load.py, grpcio itself (grpc.aio), the users' library,
  with its defaults. One Python core cannot saturate our server on small calls: there its
  rows compare the servers' CPU per call.
"""

import datetime
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CLIENTS = {
    "load": "load tool, grpcio's headers",
    "bare": "load tool, bare headers",
    "grpcio": "grpcio client",
}


def cpus():
    return sorted(os.sched_getaffinity(0))


def pinned(cpu, command):
    """`command` pinned to `cpu` when there are two CPUs or more."""
    return ["taskset", "-c", str(cpu), *command] if len(cpus()) >= 2 else command


def wait_for_port(port, process, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server exited before listening on {port}: {process.args}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port} after {seconds} s: {process.args}")


class Server:
    def __init__(self, name, port, command, log, env=None, cwd=ROOT):
        self.name = name
        self.port = port
        # A port in use would have the client measure whatever server holds it.
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            raise SystemExit(f"port {port} is in use already (try another --port-base)")
        except OSError:
            pass
        self.process = subprocess.Popen(command, stdout=log, stderr=log, cwd=cwd, env=env)
        wait_for_port(port, self.process)

    @property
    def addr(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def steal_ticks():
    """Time the hypervisor has stolen from each CPU so far: the steal column of /proc/stat
    (time this virtual CPU was ready to run while the host ran something else), in USER_HZ
    ticks, by CPU number."""
    ticks = {}
    with open("/proc/stat") as stat:
        for line in stat:
            fields = line.split()
            if re.fullmatch(r"cpu\d+", fields[0]) and len(fields) > 8:
                ticks[int(fields[0][3:])] = int(fields[8])
    return ticks


REPEATS = {"repeated": 0, "kept": 0}


def load(args, tools, server, rpc_args, pid=None, requests=None, warmup="0s", timed=True, client="load"):
    """One run of `client`; returns its figures as a dict, with `steal`: the largest
    share of one CPU's time (percent) that the host stole during the run, warm-up included.
    A run with time stolen measured the host as well as the server, so a timed run with
    more than --max-steal is run again, up to --steal-repeats times; the last one is kept
    either way, and the report counts both (REPEATS)."""
    for attempt in range(1 + (args.steal_repeats if timed else 0)):
        figures = load_once(args, tools, server, rpc_args, pid, requests, warmup, client)
        if not timed or figures["steal"] <= args.max_steal:
            return figures
        if attempt < args.steal_repeats:
            REPEATS["repeated"] += 1
            print(f"host stole {figures['steal']:.1f}% of a CPU from a run against {server.name}: again",
                  file=sys.stderr, flush=True)
    REPEATS["kept"] += 1
    return figures


def load_once(args, tools, server, rpc_args, pid, requests, warmup, client="load"):
    """One run of `client` (CLIENTS) against `server`, as `load` describes. `rpc_args`
    are the load tool's flags; the grpcio client takes the same ones (bench/python/
    grpcio_load.py), and --frame-data, which only it reads, is dropped for the load tool."""
    if client == "grpcio":
        if requests is not None:
            raise SystemExit("the grpcio client runs for a time, not a count of calls")
        command = [args.python, str(ROOT / "bench/python/grpcio_load.py"), "--addr", server.addr,
                   "--stubs", str(grpcio_stubs(args)), *rpc_args]
    else:
        command = [str(tools / "load"), "--addr", server.addr, *without(rpc_args, "--frame-data")]
        if client == "bare":
            command.append("--bare-headers")
    if requests is None:
        command += ["--duration", args.duration, "--warmup", args.warmup]
    else:
        command += ["--requests", str(requests), "--warmup", warmup]
    if pid is not None:
        command += ["--server-pid", str(pid)]
    start, steal_start = time.monotonic(), steal_ticks()
    result = subprocess.run(pinned(1, command), capture_output=True, text=True, cwd=ROOT)
    wall, steal_end = time.monotonic() - start, steal_ticks()
    if result.returncode != 0:
        raise SystemExit(f"{client} failed against {server.name}: {' '.join(command)}\n{result.stdout}{result.stderr}")
    out = result.stdout
    if client == "grpcio":
        report = json.loads(out.strip().splitlines()[-1])
        figures = {k: v for k, v in report.items() if k in ("rps", "p50", "p99", "cpu_us")}
        figures["client_busy"] = report["client_cores_busy"]
    else:
        figures = {
            "rps": float(re.search(r"^requests/s (\S+)", out, re.M).group(1)),
            "p50": float(re.search(r"p50 (\S+)", out).group(1)),
            "p99": float(re.search(r"p99 (\S+)", out).group(1)),
        }
        cpu = re.search(r"([\d.]+) us per request", out)
        if cpu:
            figures["cpu_us"] = float(cpu.group(1))
        figures["client_busy"] = float(re.search(r"^load tool CPU \S+ s, (\S+) cores busy", out, re.M).group(1))
        compressed = re.search(r"^compressed replies (\d+) of (\d+)", out, re.M)
        if compressed:
            figures["compressed"] = int(compressed.group(1)) / max(int(compressed.group(2)), 1)
    figures["steal"] = max((steal_end[c] - steal_start.get(c, steal_end[c])) / os.sysconf("SC_CLK_TCK") / wall * 100
                           for c in steal_end) if steal_end else 0.0
    return figures


def without(flags, name):
    """`flags` less `name` and its value."""
    out, skip = [], False
    for flag in flags:
        if skip:
            skip = False
        elif flag == name:
            skip = True
        else:
            out.append(flag)
    return out


def grpcio_stubs(args):
    """Where the grpcio client's generated code goes: generated once by its first run,
    reused by the next ones (`args.grpcio_stubs`, set by the script, or a folder under
    the system's temporary directory)."""
    stubs = getattr(args, "grpcio_stubs", None)
    if stubs is None:
        import tempfile
        stubs = args.grpcio_stubs = Path(tempfile.mkdtemp(prefix="grpcio-stubs-"))
    return stubs


def compressed(runs):
    """The share of the load tool's replies that came compressed, for the tables."""
    shares = [r["compressed"] for r in runs if "compressed" in r]
    if not shares:
        return "n/a"
    return f"{min(shares) * 100:.0f}%" if min(shares) == max(shares) else f"{min(shares) * 100:.0f} to {max(shares) * 100:.0f}%"


def client_list(text):
    clients = [c for c in text.split(",") if c]
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        raise SystemExit(f"unknown clients {sorted(unknown)}: choose from {', '.join(CLIENTS)}")
    return clients


def server_binary(args, tools):
    """The grpc-showcase binary measured: --server-binary, or the one built in `tools`."""
    return Path(args.server_binary).absolute() if args.server_binary else tools / "grpc-showcase"


def report_head(args, binary):
    """Where a report's figures come from: the command, the date, the machine and the build."""
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
                     platform.processor())
    command = " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
    return [
        f"Command: `{command}`",
        "",
        f"Measured {datetime.date.today().isoformat()} on {os.cpu_count()} CPUs ({cpu_model}), Linux "
        f"{platform.release()}; `{args.profile}` build profile; server binary `{binary}`.",
    ]
