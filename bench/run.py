"""The benchmark report: grpc-showcase against its references, measured in the same run.

Run through bench/run.sh, which builds the binaries (with the `dist` profile unless told) and installs the Python
references first. This script starts every server, drives each with the clients of
bench/clients.py (by default the load tool with grpcio's headers, and grpcio itself for the
unary calls: real clients list the encodings they decode, and a server may compress its
replies for them), and writes a Markdown report (stdout and --out), a table per comparison:

- references: bench/bare_greeter.rs, a bare tonic Greeter with no layers (the framework's
  ceiling), as tonic writes it (the system allocator) and with mimalloc preloaded (the
  allocator grpc-showcase is built with, so that ratio is the layers' cost alone) and on
  Tokio's current-thread scheduler (which grpc-showcase runs when it may use one CPU, as
  here: so that ratio leaves out the choice of scheduler too), and bench/python/greeter_server.py and
  fraud_server.py, Python grpcio servers for Greeter and the fraud service;
- runs alternate: each round runs every configuration once on every server, the servers in a
  rotating order, and each ratio is taken between runs of the same round, then the median
  over rounds is reported (the machine is shared and noisy; adjacent runs see the same noise);
- the host's steal time (/proc/stat) is read around every timed run: a run in which the host
  took more than --max-steal percent of a CPU is run again (up to --steal-repeats times), and
  the report gives the steal behind every figure and how many runs were repeated;
- servers are pinned to CPU 0 and the client to CPU 1 (taskset), so the server's CPU time
  per request (from /proc, --server-pid) is its own; on SayHello that figure, not requests/s,
  is the grpcio client's comparison (one Python core does not saturate our server);
- the targets' ratios (SayHello server CPU per call against bare tonic, PredictFraud
  requests/s against Python) per client, and again over --pairs fixed-count pairs;
- instructions per SayHello counted by valgrind's callgrind, for the showcase and the bare
  tonic servers, pinned to CPU 0 like the timed runs (stable across runs, unlike time);
- the time the server binary takes to serve with all models loaded (bench/startup.rs).

--only runs some comparisons, --clients some clients, --server-binary measures another
build of the server (a before/after run), --port-base moves every port.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# wait_for_port and load_once are bench/replicas.py's, through this module.
from clients import (  # noqa: E402, F401
    CLIENTS, REPEATS, ROOT, Server, client_list, compressed, load, load_once, pinned, report_head, server_binary,
    wait_for_port,
)

GROUPS = ["sayhello", "stream", "fraud"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    parser.add_argument("--profile", default="dist", help="the Cargo profile the binaries were built with")
    parser.add_argument("--server-binary", help="the grpc-showcase binary to measure (default: the profile's build)")
    parser.add_argument("--python", default=sys.executable, help="the Python with grpcio and onnxruntime")
    parser.add_argument("--clients", type=client_list, default=client_list("load,grpcio"),
                        help=f"which clients drive the rows, of {','.join(CLIENTS)} (clients.py)")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help="which comparisons: sayhello (with its pairs and callgrind), stream, fraud (with its pairs)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", default="10s", help="measured time per run")
    parser.add_argument("--warmup", default="2s")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight")
    parser.add_argument("--callgrind-requests", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=9,
                        help="alternating pairs of fixed-count runs for the two target ratios (0: none)")
    parser.add_argument("--skip-callgrind", action="store_true")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--port-base", type=int, default=50070, help="servers listen on the 11 ports after it")
    parser.add_argument("--max-steal", type=float, default=5.0,
                        help="percent of a CPU the host may steal during a timed run before it is run again")
    parser.add_argument("--steal-repeats", type=int, default=2, help="how many times a run may be run again for steal")
    parser.add_argument("--out", default=None, help="where to write the report (default TARGET/bench/report.md)")
    args = parser.parse_args()
    args.only = args.only.split(",")
    if set(args.only) - set(GROUPS):
        raise SystemExit(f"--only takes some of {','.join(GROUPS)}")
    return args


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


def startup(args, tools, server_binary, work):
    port = args.port_base + 9
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
    binary = server_binary(args, tools)
    out_path = Path(args.out) if args.out else target / "bench" / "report.md"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="grpc-showcase-bench-"))
    args.grpcio_stubs = work / "grpcio-stubs"
    stubs = work / "stubs"
    stubs.mkdir()
    subprocess.run(
        [args.python, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"--python_out={stubs}",
         f"--grpc_python_out={stubs}", "helloworld.proto", "fraud_detection.proto"],
        check=True, cwd=ROOT / "proto",
    )
    log = open(work / "servers.log", "w")
    c = str(args.concurrency)

    def port(n):
        return args.port_base + n

    # The grpcio client drives unary calls only (its streams are video.py's).
    unary = args.clients
    streams = [client for client in args.clients if client != "grpcio"]
    # (comparison, title, load arguments, servers, clients); the ratios are to "ours".
    configs = [
        ("sayhello", f"SayHello, unary, {c} in flight", ["--rpc", "hello", "--concurrency", c],
         ["bare", "bare_mi", "bare_ct", "ours", "py_greeter"], unary),
        ("stream", f"SayHelloBidiStream, 1 stream, {c} in flight", ["--rpc", "hello-stream", "--concurrency", "1", "--window", c],
         ["bare", "ours", "py_greeter"], streams),
        ("stream", f"SayHelloBidiStream, {c} streams, {c} in flight each", ["--rpc", "hello-stream", "--concurrency", c, "--window", c],
         ["bare", "ours", "py_greeter"], streams),
        ("fraud", "PredictFraud, 1 in flight", ["--rpc", "fraud", "--concurrency", "1"], ["ours", "py_fraud"], unary),
        ("fraud", f"PredictFraud, {c} in flight", ["--rpc", "fraud", "--concurrency", c], ["ours", "py_fraud"], unary),
    ]
    configs = [config for config in configs if config[0] in args.only and config[4]]
    hello, fraud = f"SayHello, unary, {c} in flight", f"PredictFraud, {c} in flight"
    pairs_of = {"hello": "bare", "hello_ct": "bare_ct"} if "sayhello" in args.only else {}
    if "fraud" in args.only:
        pairs_of["fraud"] = "py_fraud"
    if args.pairs == 0:
        pairs_of = {}
    needed = {key for config in configs for key in config[3]} | set(pairs_of.values()) | {"ours"}
    # key: (name, port, command, environment)
    commands = {
        "ours": ("grpc-showcase", port(1), [str(binary), "--listen", f"127.0.0.1:{port(1)}", "--data-dir", str(work / "data")], None),
        "bare": ("bare tonic", port(2), [str(tools / "bare_greeter"), "--listen", f"127.0.0.1:{port(2)}"], None),
        "bare_mi": ("bare tonic + mimalloc", port(5), [str(tools / "bare_greeter"), "--listen", f"127.0.0.1:{port(5)}"], mimalloc_env),
        "bare_ct": ("bare tonic, current-thread", port(10), [str(tools / "bare_greeter"), "--listen", f"127.0.0.1:{port(10)}", "--current-thread"], None),
        "py_greeter": ("Python grpcio", port(3), [args.python, str(ROOT / "bench/python/greeter_server.py"), "--port", str(port(3)), "--stubs", str(stubs)], None),
        "py_fraud": ("Python grpcio + onnxruntime", port(4), [args.python, str(ROOT / "bench/python/fraud_server.py"), "--port", str(port(4)),
                                                              "--stubs", str(stubs), "--model-dir", str(ROOT / "models/fraud")], None),
    }
    names = {key: name for key, (name, _, _, _) in commands.items()}
    servers = {}
    try:
        for key in [k for k in commands if k in needed]:
            name, port_, command, env = commands[key]
            servers[key] = Server(name, port_, pinned(0, command), log, env=env() if env else None)
        results = {(title, client): {key: [] for key in keys} for _, title, _, keys, clients in configs for client in clients}
        for round_ in range(args.rounds):
            for _, title, rpc_args, keys, clients in configs:
                for client in clients:
                    order = keys[round_ % len(keys):] + keys[:round_ % len(keys)]
                    for key in order:
                        server = servers[key]
                        figures = load(args, tools, server, rpc_args, pid=server.process.pid, client=client)
                        results[(title, client)][key].append(figures)
                        print(f"round {round_ + 1}: {title}: {CLIENTS[client]}: {server.name}: {figures}", file=sys.stderr, flush=True)
        # The two timed targets again, with more samples: many short alternating pairs,
        # driven by the load tool (grpcio's headers).
        requests = {"hello": 100_000, "hello_ct": 100_000, "fraud": 20_000}
        rpc = {"hello": ["--rpc", "hello", "--concurrency", c], "hello_ct": ["--rpc", "hello", "--concurrency", c],
               "fraud": ["--rpc", "fraud", "--concurrency", c]}
        target_pairs = {key: pairs(args, tools, servers["ours"], servers[ref], rpc[key], requests[key])
                        for key, ref in pairs_of.items()}
    finally:
        for server in servers.values():
            server.stop()

    startup_figures = None if args.skip_startup else startup(args, tools, binary, work)

    callgrind = None
    if not args.skip_callgrind and "sayhello" in args.only:
        callgrind = {}
        for key, command, port_, env in [
            ("bare", [str(tools / "bare_greeter"), "--listen", f"127.0.0.1:{port(7)}"], port(7), None),
            ("bare_mi", [str(tools / "bare_greeter"), "--listen", f"127.0.0.1:{port(6)}"], port(6), mimalloc_env()),
            ("bare_ct", [str(tools / "bare_greeter"), "--listen", f"127.0.0.1:{port(11)}", "--current-thread"], port(11), None),
            ("ours", [str(binary), "--listen", f"127.0.0.1:{port(8)}", "--data-dir", str(work / "callgrind-data")], port(8), None),
        ]:
            for in_flight in ("1", c):
                callgrind[(key, in_flight)] = callgrind_per_request(
                    args, tools, work, f"{key}-{in_flight}", command, port_,
                    ["--rpc", "hello", "--concurrency", in_flight], env=env,
                )
                print(f"callgrind {key} {in_flight} in flight: {callgrind[(key, in_flight)]:.0f} per call", file=sys.stderr, flush=True)

    head = " ".join(report_head(args, binary)[::2])
    lines = [f"Servers pinned to CPU 0, the client to CPU 1; rounds: {args.rounds}, of {args.duration} per run after "
             f"{args.warmup} of warm-up, the servers alternating within each round, medians over rounds; ratios "
             f"are taken between runs of the same round, then their median. Timed runs in which the host stole "
             f"more than {args.max_steal:g}% of a CPU (/proc/stat steal) were run again, at most {args.steal_repeats} "
             f"more times: {REPEATS['repeated']} runs were repeated, and {REPEATS['kept']} kept with more than that "
             f"after the last try. Clients: " + "; ".join(f"{CLIENTS[cl]} (`{cl}`)" for cl in args.clients)
             + " (bench/clients.py). Replies compressed: the load tool's count (grpc-encoding of the replies); "
             "grpcio does not show it (n/a). Client cores busy: the client's own CPU time over the measured time; "
             "near 1, the client, not the server, set the rate (the grpcio client on small calls).", ""]
    for _, title, _, keys, clients in configs:
        lines += [f"#### {title}", "", head, "",
                  "| client | server | req/s | p50 ms | p99 ms | server CPU µs/req | replies compressed "
                  "| client cores busy | grpc-showcase vs this: req/s | CPU/req | host steal, most in a round |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for client in clients:
            for key in keys:
                runs = results[(title, client)][key]
                med = {f: statistics.median(r[f] for r in runs) for f in ("rps", "p50", "p99", "cpu_us", "client_busy")}
                ratio_rps = ratio_cpu = ""
                if key != "ours":
                    ours = results[(title, client)]["ours"]
                    ratio_rps = f"{statistics.median(o['rps'] / r['rps'] for o, r in zip(ours, runs)):.2f}x"
                    ratio_cpu = f"{statistics.median(o['cpu_us'] / r['cpu_us'] for o, r in zip(ours, runs)):.2f}x"
                lines.append(f"| {CLIENTS[client]} | {names[key]} | {fmt_int(med['rps'])} | {med['p50']:.3f} | {med['p99']:.3f} "
                             f"| {med['cpu_us']:.1f} | {compressed(runs)} | {med['client_busy']:.2f} | {ratio_rps} | {ratio_cpu} "
                             f"| {max(r['steal'] for r in runs):.1f}% |")
        lines.append("")

    def per_round(title, client, key, figure):
        ours, theirs = results[(title, client)]["ours"], results[(title, client)][key]
        return [(o[figure] / t[figure], max(o["steal"], t["steal"])) for o, t in zip(ours, theirs)]

    def target(text, title, key, figure, met):
        for client in [cl for cl in args.clients if (title, cl) in results]:
            rounds = per_round(title, client, key, figure)
            median = statistics.median(r for r, _ in rounds)
            lines.append(f"- {text}, {CLIENTS[client]}: **{median:.2f}x** ({'met' if met(median) else 'NOT met'}); "
                         "per round, with the most time the host stole from a CPU in its two runs: "
                         + ", ".join(f"{r:.2f}x ({s:.1f}%)" for r, s in rounds))

    lines += ["Targets (median of the per-round ratios):", ""]
    target("SayHello server CPU per call, grpc-showcase / bare tonic, the same headers (target 1.05 or less)",
           hello, "bare", "cpu_us", lambda r: r <= 1.05)
    target(f"PredictFraud requests/s at {c} in flight, grpc-showcase / Python grpcio + onnxruntime (target 15x or more)",
           fraud, "py_fraud", "rps", lambda r: r >= 15)
    lines.append("")

    def spread(ratios):
        return f"median {statistics.median(ratios):.2f}x (from {min(ratios):.2f}x to {max(ratios):.2f}x)"

    def stolen(steals):
        return f"{sum(s > 1 for s in steals)} of {len(steals)} pairs had more than 1% of a CPU stolen by the host"

    if target_pairs:
        parts = []
        if "hello" in target_pairs:
            parts.append(f"SayHello server CPU per call, grpc-showcase / bare tonic, 100,000 calls a run: "
                         f"{spread(target_pairs['hello'][0])}, {stolen(target_pairs['hello'][2])} (against bare tonic "
                         f"on the current-thread scheduler: {spread(target_pairs['hello_ct'][0])})")
        if "fraud" in target_pairs:
            parts.append(f"PredictFraud requests per second, grpc-showcase / Python grpcio + onnxruntime, 20,000 calls "
                         f"a run: {spread(target_pairs['fraud'][1])}, {stolen(target_pairs['fraud'][2])}")
        lines += [f"The timed targets over {args.pairs} alternating pairs of fixed-count runs of the load tool "
                  f"(grpcio's headers; ours, then the reference, then the other way round), {c} in flight: "
                  + "; ".join(parts) + ".", ""]
    if startup_figures:
        startup_median, startup_max, models = startup_figures
        lines.append(f"Startup (bench/startup.rs, 5 starts): the {args.profile} binary answers health SERVING with "
                     f"{models} models ready after {startup_median:.0f} ms (median), {startup_max:.0f} ms at most.")
    if callgrind:
        lines.append("")
        lines.append("Instructions per SayHello in the server (valgrind --tool=callgrind, "
                     f"(I(2n) - I(n)) / n with n = {args.callgrind_requests}; the load tool, grpcio's headers):")
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
