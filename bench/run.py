"""The benchmark report: grpc-showcase against its references, measured in the same run.

Run through bench/run.sh, which builds the binaries (with the `dist` profile unless told) and installs the Python
references first. This script starts every server, drives each with bench/load, and
writes a Markdown report (stdout and --out):

- references: bench/bare_greeter.rs, a bare tonic Greeter with no layers (the framework's
  ceiling), as tonic writes it (the system allocator) and with mimalloc preloaded (the
  allocator grpc-showcase is built with, so that ratio is the layers' cost alone) and on
  Tokio's current-thread scheduler (which grpc-showcase runs when it may use one CPU, as
  here: so that ratio leaves out the choice of scheduler too), and bench/python/*.py, Python grpcio servers for Greeter and the fraud service;
- runs alternate: each round runs every configuration once on every server, the servers in a
  rotating order, and each ratio is taken between runs of the same round, then the median
  over rounds is reported (the machine is shared and noisy; adjacent runs see the same noise);
- the host's steal time (/proc/stat) is read around every timed run: a run in which the host
  took more than --max-steal percent of a CPU is run again (up to --steal-repeats times), and
  the report gives the steal behind every figure and how many runs were repeated;
- servers are pinned to CPU 0 and the load tool to CPU 1 (taskset), so the server's CPU time
  per request (from /proc, bench/load --server-pid) is its own;
- instructions per SayHello counted by valgrind's callgrind, for the showcase and the bare
  tonic servers, pinned to CPU 0 like the timed runs (stable across runs, unlike time);
- the time the server binary takes to serve with all models loaded (bench/startup.rs).
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    parser.add_argument("--profile", default="dist", help="the Cargo profile the binaries were built with")
    parser.add_argument("--python", default=sys.executable, help="the Python with grpcio and onnxruntime")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", default="10s", help="measured time per run")
    parser.add_argument("--warmup", default="2s")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight")
    parser.add_argument("--callgrind-requests", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=9,
                        help="alternating pairs of fixed-count runs for the two target ratios")
    parser.add_argument("--skip-callgrind", action="store_true")
    parser.add_argument("--max-steal", type=float, default=5.0,
                        help="percent of a CPU the host may steal during a timed run before it is run again")
    parser.add_argument("--steal-repeats", type=int, default=2, help="how many times a run may be run again for steal")
    parser.add_argument("--out", default=None, help="where to write the report (default TARGET/bench/report.md)")
    return parser.parse_args()


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
    def __init__(self, name, port, command, log, env=None):
        self.name = name
        self.port = port
        self.process = subprocess.Popen(command, stdout=log, stderr=log, cwd=ROOT, env=env)
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


def load(args, tools, server, rpc_args, pid=None, requests=None, warmup="0s", timed=True):
    """One run of the load tool; returns its figures as a dict, with `steal`: the largest
    share of one CPU's time (percent) that the host stole during the run, warm-up included.
    A run with time stolen measured the host as well as the server, so a timed run with
    more than --max-steal is run again, up to --steal-repeats times; the last one is kept
    either way, and the report counts both (REPEATS)."""
    for attempt in range(1 + (args.steal_repeats if timed else 0)):
        figures = load_once(args, tools, server, rpc_args, pid, requests, warmup)
        if not timed or figures["steal"] <= args.max_steal:
            return figures
        if attempt < args.steal_repeats:
            REPEATS["repeated"] += 1
            print(f"host stole {figures['steal']:.1f}% of a CPU from a run against {server.name}: again",
                  file=sys.stderr, flush=True)
    REPEATS["kept"] += 1
    return figures


def load_once(args, tools, server, rpc_args, pid, requests, warmup):
    """One run of the load tool, as `load` describes."""
    command = [str(tools / "load"), "--addr", server.addr, *rpc_args]
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
        raise SystemExit(f"load failed against {server.name}: {' '.join(command)}\n{result.stdout}{result.stderr}")
    out = result.stdout
    figures = {
        "rps": float(re.search(r"^requests/s (\S+)", out, re.M).group(1)),
        "p50": float(re.search(r"p50 (\S+)", out).group(1)),
        "p99": float(re.search(r"p99 (\S+)", out).group(1)),
        "steal": max((steal_end[c] - steal_start.get(c, steal_end[c])) / os.sysconf("SC_CLK_TCK") / wall * 100
                     for c in steal_end) if steal_end else 0.0,
    }
    cpu = re.search(r"([\d.]+) us per request", out)
    if cpu:
        figures["cpu_us"] = float(cpu.group(1))
    return figures


def fmt_int(x):
    return f"{x:,.0f}"


def callgrind_per_request(args, tools, work, name, command, port, rpc_args, env=None):
    """Instructions the server executes per call: two counts of calls at one in flight,
    (I(n2) - I(n1)) / (n2 - n1), so the connection's setup cancels out."""
    out_file = work / f"callgrind.{name}.out"
    process = subprocess.Popen(
        pinned(0, [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out_file}",
            *command,
        ]),
        stdout=subprocess.DEVNULL,
        stderr=open(work / f"callgrind.{name}.log", "w"),
        cwd=ROOT,
        env=env,
    )
    server = Server.__new__(Server)
    server.name, server.port, server.process = name, port, process
    try:
        wait_for_port(port, process, seconds=600)
        load(args, tools, server, rpc_args, requests=200, timed=False)  # warm-up, not instrumented
        control = ["callgrind_control"]
        subprocess.run([*control, "-i", "on", str(process.pid)], check=True, capture_output=True)
        totals = []
        n1 = args.callgrind_requests
        for n in (n1, 2 * n1):
            subprocess.run([*control, "-z", str(process.pid)], check=True, capture_output=True)
            load(args, tools, server, rpc_args, requests=n, timed=False)
            for stale in work.glob(f"callgrind.{name}.out*"):
                stale.unlink()
            subprocess.run([*control, "-d", str(process.pid)], check=True, capture_output=True)
            dumps = sorted(work.glob(f"callgrind.{name}.out*"))
            text = dumps[-1].read_text(errors="replace")
            totals.append(int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1)))
        return (totals[1] - totals[0]) / n1
    finally:
        server.stop()


def pairs(args, tools, ours, reference, rpc_args, requests):
    """The two targets' ratios with more samples than the table: `args.pairs` pairs of runs
    of a fixed count of calls (after 1 s of warm-up), ours and the reference back to back,
    first one then the other in turn. Returns the per-pair ratios of CPU per request and of
    requests per second, ours / reference, and the most time stolen by the host in each pair
    (percent of a CPU)."""
    cpu, rps, steal = [], [], []
    for pair in range(args.pairs):
        runs = {}
        for server in ((ours, reference) if pair % 2 == 0 else (reference, ours)):
            runs[server.name] = load(args, tools, server, rpc_args, pid=server.process.pid,
                                     requests=requests, warmup="1s")
        a, b = runs[ours.name], runs[reference.name]
        cpu.append(a["cpu_us"] / b["cpu_us"])
        rps.append(a["rps"] / b["rps"])
        steal.append(max(a["steal"], b["steal"]))
        print(f"pair {pair + 1}: {' '.join(rpc_args)}: {ours.name} / {reference.name}: CPU {cpu[-1]:.3f}, req/s {rps[-1]:.3f}, "
              f"host steal {steal[-1]:.1f}%", file=sys.stderr, flush=True)
    return cpu, rps, steal


def mimalloc_env():
    """The environment that preloads the system's mimalloc (Debian's libmimalloc2.0) into
    a process, so that the bare tonic server can also be measured with the allocator the
    showcase is built with (src/main.rs): the ratio to it is the cost of the layers alone."""
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    match = re.search(r"libmimalloc\.so\.2 .*=> (\S+)", listing)
    if not match:
        raise SystemExit("libmimalloc.so.2 not found (bench/run.sh installs libmimalloc2.0)")
    return {**os.environ, "LD_PRELOAD": match.group(1)}


def startup(tools, server_binary, work):
    port = 50079
    command = [
        str(tools / "startup"),
        "--addr",
        f"http://127.0.0.1:{port}",
        "--runs",
        "5",
        "--",
        *pinned(0, [str(server_binary), "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "startup")]),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
    match = re.search(r"median (\S+)\s+max (\S+)", result.stdout)
    models = re.search(r"(\d+) models ready", result.stdout).group(1)
    return float(match.group(1)), float(match.group(2)), int(models)


def main():
    args = parse_args()
    # Absolute, not resolved: a virtual environment's python is a symbolic link.
    args.python = str(Path(args.python).absolute())
    target = Path(args.target_dir)
    if not target.is_absolute():
        target = ROOT / target
    tools = target / args.profile
    binary = tools / "grpc-showcase"
    out_path = Path(args.out) if args.out else target / "bench" / "report.md"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="grpc-showcase-bench-"))
    stubs = work / "stubs"
    stubs.mkdir()
    subprocess.run(
        [args.python, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"--python_out={stubs}",
         f"--grpc_python_out={stubs}", "helloworld.proto", "fraud_detection.proto"],
        check=True, cwd=ROOT / "proto",
    )
    log = open(work / "servers.log", "w")
    c = str(args.concurrency)
    servers = {}
    try:
        servers["ours"] = Server("grpc-showcase", 50071, pinned(0, [str(binary), "--listen", "127.0.0.1:50071", "--data-dir", str(work / "data")]), log)
        servers["bare"] = Server("bare tonic", 50072, pinned(0, [str(tools / "bare_greeter"), "--listen", "127.0.0.1:50072"]), log)
        servers["bare_mi"] = Server("bare tonic + mimalloc", 50075, pinned(0, [str(tools / "bare_greeter"), "--listen", "127.0.0.1:50075"]), log, env=mimalloc_env())
        servers["bare_ct"] = Server("bare tonic, current-thread", 50080, pinned(0, [str(tools / "bare_greeter"), "--listen", "127.0.0.1:50080", "--current-thread"]), log)
        servers["py_greeter"] = Server("Python grpcio", 50073, pinned(0, [args.python, str(ROOT / "bench/python/greeter_server.py"), "--port", "50073", "--stubs", str(stubs)]), log)
        servers["py_fraud"] = Server("Python grpcio + onnxruntime", 50074, pinned(0, [args.python, str(ROOT / "bench/python/fraud_server.py"), "--port", "50074", "--stubs", str(stubs), "--model-dir", str(ROOT / "models/fraud")]), log)

        # (title, load arguments, servers, reference key for the ratio)
        configs = [
            (f"SayHello, unary, {c} in flight", ["--rpc", "hello", "--concurrency", c], ["bare", "bare_mi", "bare_ct", "ours", "py_greeter"]),
            (f"SayHelloBidiStream, 1 stream, {c} in flight", ["--rpc", "hello-stream", "--concurrency", "1", "--window", c], ["bare", "ours", "py_greeter"]),
            (f"SayHelloBidiStream, {c} streams, {c} in flight each", ["--rpc", "hello-stream", "--concurrency", c, "--window", c], ["bare", "ours", "py_greeter"]),
            ("PredictFraud, 1 in flight", ["--rpc", "fraud", "--concurrency", "1"], ["ours", "py_fraud"]),
            (f"PredictFraud, {c} in flight", ["--rpc", "fraud", "--concurrency", c], ["ours", "py_fraud"]),
        ]
        results = {title: {key: [] for key in keys} for title, _, keys in configs}
        for round_ in range(args.rounds):
            for title, rpc_args, keys in configs:
                order = keys[round_ % len(keys):] + keys[:round_ % len(keys)]
                for key in order:
                    server = servers[key]
                    figures = load(args, tools, server, rpc_args, pid=server.process.pid)
                    results[title][key].append(figures)
                    print(f"round {round_ + 1}: {title}: {server.name}: {figures}", file=sys.stderr, flush=True)
        # The two timed targets again, with more samples: many short alternating pairs.
        target_pairs = {
            "hello": pairs(args, tools, servers["ours"], servers["bare"], ["--rpc", "hello", "--concurrency", c], 100_000),
            "hello_ct": pairs(args, tools, servers["ours"], servers["bare_ct"], ["--rpc", "hello", "--concurrency", c], 100_000),
            "fraud": pairs(args, tools, servers["ours"], servers["py_fraud"], ["--rpc", "fraud", "--concurrency", c], 20_000),
        }
    finally:
        for server in servers.values():
            server.stop()

    startup_median, startup_max, models = startup(tools, binary, work)

    callgrind = None
    if not args.skip_callgrind:
        callgrind = {}
        for key, command, port, env in [
            ("bare", [str(tools / "bare_greeter"), "--listen", "127.0.0.1:50077"], 50077, None),
            ("bare_mi", [str(tools / "bare_greeter"), "--listen", "127.0.0.1:50076"], 50076, mimalloc_env()),
            ("bare_ct", [str(tools / "bare_greeter"), "--listen", "127.0.0.1:50081", "--current-thread"], 50081, None),
            ("ours", [str(binary), "--listen", "127.0.0.1:50078", "--data-dir", str(work / "callgrind-data")], 50078, None),
        ]:
            for in_flight in ("1", c):
                callgrind[(key, in_flight)] = callgrind_per_request(
                    args, tools, work, f"{key}-{in_flight}", command, port,
                    ["--rpc", "hello", "--concurrency", in_flight], env=env,
                )
                print(f"callgrind {key} {in_flight} in flight: {callgrind[(key, in_flight)]:.0f} per call", file=sys.stderr, flush=True)

    names = {"ours": "grpc-showcase", "bare": "bare tonic", "bare_mi": "bare tonic + mimalloc", "bare_ct": "bare tonic, current-thread", "py_greeter": "Python grpcio", "py_fraud": "Python grpcio + onnxruntime"}
    lines = []
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    lines.append(f"Measured {datetime.date.today().isoformat()}: {os.cpu_count()} CPUs ({cpu_model}), Linux {platform.release()}, "
                 f"{args.profile} profile; servers pinned to CPU 0, the load tool to CPU 1; {args.rounds} rounds of {args.duration} "
                 f"per run after {args.warmup} of warm-up, medians over rounds. Timed runs in which the host stole "
                 f"more than {args.max_steal:g}% of a CPU (/proc/stat steal) were run again, at most {args.steal_repeats} "
                 f"more times: {REPEATS['repeated']} runs were repeated, and {REPEATS['kept']} kept with more than that "
                 f"after the last try.")
    lines.append("")
    lines.append("| load | server | req/s | p50 ms | p99 ms | server CPU µs/req | grpc-showcase vs this: req/s | CPU/req | host steal, most in a round |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for title, _, keys in configs:
        for key in keys:
            runs = results[title][key]
            rps = statistics.median(r["rps"] for r in runs)
            p50 = statistics.median(r["p50"] for r in runs)
            p99 = statistics.median(r["p99"] for r in runs)
            cpu = statistics.median(r["cpu_us"] for r in runs)
            if key == "ours":
                ratio_rps = ratio_cpu = ""
            else:
                ours = results[title]["ours"]
                ratio_rps = f"{statistics.median(o['rps'] / r['rps'] for o, r in zip(ours, runs)):.2f}x"
                ratio_cpu = f"{statistics.median(o['cpu_us'] / r['cpu_us'] for o, r in zip(ours, runs)):.2f}x"
            steal = max(r["steal"] for r in runs)
            lines.append(f"| {title} | {names[key]} | {fmt_int(rps)} | {p50:.3f} | {p99:.3f} | {cpu:.1f} | {ratio_rps} | {ratio_cpu} | {steal:.1f}% |")
    lines.append("")
    def per_round(title, key, figure):
        ours, theirs = results[title]["ours"], results[title][key]
        return ", ".join(f"{o[figure] / t[figure]:.2f}x ({max(o['steal'], t['steal']):.1f}%)" for o, t in zip(ours, theirs))

    lines.append(f"Per-round ratios behind the medians, each with the most time the host stole from a CPU in "
                 f"its two runs (/proc/stat steal): SayHello server CPU per call, grpc-showcase / bare tonic: "
                 f"{per_round(configs[0][0], 'bare', 'cpu_us')}; PredictFraud requests per second at {c} in flight, "
                 f"grpc-showcase / Python grpcio + onnxruntime: {per_round(configs[-1][0], 'py_fraud', 'rps')}.")
    lines.append("")
    def spread(ratios):
        return f"median {statistics.median(ratios):.2f}x (from {min(ratios):.2f}x to {max(ratios):.2f}x)"

    def stolen(steals):
        return f"{sum(s > 1 for s in steals)} of {len(steals)} pairs had more than 1% of a CPU stolen by the host"

    lines.append(f"The two timed targets over {args.pairs} alternating pairs of fixed-count runs (ours, then the "
                 f"reference, then the other way round), {c} in flight: SayHello server CPU per call, grpc-showcase / "
                 f"bare tonic, 100,000 calls a run: {spread(target_pairs['hello'][0])}, {stolen(target_pairs['hello'][2])} "
                 f"(against bare tonic on the current-thread scheduler: {spread(target_pairs['hello_ct'][0])}); "
                 f"PredictFraud requests per second, grpc-showcase / Python grpcio + onnxruntime, 20,000 calls a run: "
                 f"{spread(target_pairs['fraud'][1])}, {stolen(target_pairs['fraud'][2])}.")
    lines.append("")
    lines.append(f"Startup (bench/startup.rs, 5 starts): the {args.profile} binary answers health SERVING with "
                 f"{models} models ready after {startup_median:.0f} ms (median), {startup_max:.0f} ms at most.")
    if callgrind:
        lines.append("")
        lines.append("Instructions per SayHello in the server (valgrind --tool=callgrind, "
                     f"(I(2n) - I(n)) / n with n = {args.callgrind_requests}):")
        lines.append("")
        lines.append("| in flight | bare tonic | bare tonic + mimalloc | bare tonic, current-thread | grpc-showcase "
                     "| ours / bare | ours / bare + mimalloc | ours / bare, current-thread |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for in_flight in ("1", c):
            bare, bare_mi, bare_ct, ours = (callgrind[(key, in_flight)] for key in ("bare", "bare_mi", "bare_ct", "ours"))
            lines.append(f"| {in_flight} | {fmt_int(bare)} | {fmt_int(bare_mi)} | {fmt_int(bare_ct)} | {fmt_int(ours)} "
                         f"| {ours / bare:.2f}x | {ours / bare_mi:.2f}x | {ours / bare_ct:.2f}x |")
    report = "\n".join(lines) + "\n"
    out_path.write_text(report)
    print(report)
    print(f"(written to {out_path}; raw server logs in {work})", file=sys.stderr)
    log.close()


if __name__ == "__main__":
    main()
