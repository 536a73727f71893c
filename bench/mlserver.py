"""The Open Inference Protocol against Seldon MLServer: requests/s at 16 in flight and p50
latency at 1 in flight, ModelInfer on one row, the showcase against MLServer serving the
same ONNX files (bench/mlserver/runtime.py, onnxruntime on one thread), both over gRPC,
alternating, each server pinned to CPU 0 and the client to CPU 1, with the servers' CPU
time per call (/proc, --server-pid).

MLServer's users call it with tritonclient, whose headers are grpcio's: captured on the
wire (tritonclient 2.73.0 on grpcio 1.85.4), `grpc-accept-encoding: identity, deflate, gzip`
and `user-agent: grpc-python/1.85.4 grpc-c/58.0.0 (linux; chttp2)`, what the load tool
sends by default. The clients (--clients, bench/clients.py):

- `load`: bench/load --rpc infer, raw FP32 rows as tritonclient's
  InferInput.set_data_from_numpy sends them, with those headers;
- `grpcio`: bench/python/grpcio_load.py, grpc.aio stubs generated from proto/ (the same
  request, the same grpc-accept-encoding; grpc.aio's user-agent says
  `grpc-python-asyncio`), rather than tritonclient itself, whose request building in
  Python would cap our server's rate at the client's even lower; it runs in the Python
  of bench/python/requirements.txt (--python): grpcio-tools needs protobuf 7, MLServer
  protobuf 6;
- `bare`: the load tool without those headers.

    bench/mlserver.sh [--rounds 3] [--duration 3s] [--clients load] [--models fraud]

--server-binary measures another build of the server (a before/after run), --port-base
moves the ports.
"""

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from clients import CLIENTS, ROOT, Server, client_list, compressed, load_once, pinned, report_head, server_binary  # noqa: E402

MODELS = ["fraud", "digits"]


def start_mlserver(mlserver, port, folder):
    (folder / "runtime.py").write_text((ROOT / "bench/mlserver/runtime.py").read_text())
    settings = {"parallel_workers": 0, "http_port": port + 1, "grpc_port": port, "metrics_port": port + 2}
    (folder / "settings.json").write_text(json.dumps(settings))
    for model in MODELS:
        (folder / model).mkdir(exist_ok=True)
        (folder / model / "model-settings.json").write_text(json.dumps({
            "name": model, "implementation": "runtime.OnnxModel",
            "parameters": {"uri": str(ROOT / "models" / model / "model.onnx"), "version": "1"},
        }))
    log = open(folder / "mlserver.log", "w")
    server = Server("MLServer", port, pinned(0, [mlserver, "start", "."]), log, cwd=folder)
    time.sleep(2)  # the models load after the port opens
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", default=str(ROOT / "target"))
    parser.add_argument("--profile", default="release")
    parser.add_argument("--server-binary", help="the grpc-showcase binary to measure (default: the profile's build)")
    parser.add_argument("--mlserver", required=True, help="the mlserver command")
    parser.add_argument("--python", default=sys.executable, help="the Python with grpcio and grpcio-tools")
    parser.add_argument("--clients", type=client_list, default=client_list("load,grpcio"),
                        help=f"which clients drive the rows, of {','.join(CLIENTS)}")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", default="3s")
    parser.add_argument("--warmup", default="1s")
    parser.add_argument("--port-base", type=int, default=50190, help="the servers' ports: it, and 5 to 7 after it")
    args = parser.parse_args()
    args.python = str(pathlib.Path(args.python).absolute())
    tools = pathlib.Path(args.target_dir).resolve() / args.profile
    binary = server_binary(args, tools)
    mlserver = str(pathlib.Path(args.mlserver).absolute())
    models = args.models.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as folder:
        args.grpcio_stubs = pathlib.Path(data) / "grpcio-stubs"
        log = open(pathlib.Path(data) / "ours.log", "w")
        servers = {}
        try:
            servers["ours"] = Server("grpc-showcase", args.port_base, pinned(0, [
                str(binary), "--listen", f"127.0.0.1:{args.port_base}", "--log-level", "warn",
                "--data-dir", str(pathlib.Path(data) / "data")]), log)
            servers["mlserver"] = start_mlserver(mlserver, args.port_base + 5, pathlib.Path(folder))
            for model in models:
                for concurrency in [16, 1]:
                    rpc = ["--rpc", "infer", "--model", model, "--concurrency", str(concurrency),
                           "--models-dir", str(ROOT / "models")]
                    for round_ in range(args.rounds):
                        for client in args.clients:
                            for name in (["ours", "mlserver"] if round_ % 2 == 0 else ["mlserver", "ours"]):
                                server = servers[name]
                                figures = load_once(args, tools, server, rpc, server.process.pid, None, args.warmup,
                                                    client)
                                results.setdefault((model, concurrency, client, name), []).append(figures)
                                print(f"round {round_ + 1}: {model}, {concurrency} in flight: {CLIENTS[client]}: "
                                      f"{server.name}: {figures}", file=sys.stderr, flush=True)
        finally:
            for server in servers.values():
                server.stop()
            log.close()
    lines, targets = [], []
    for client in args.clients:
        lines += [f"#### ModelInfer against MLServer, driven by the {CLIENTS[client]}", "",
                  " ".join(report_head(args, binary)[::2]), "",
                  f"ModelInfer, one row; each server pinned to CPU 0, the client ({CLIENTS[client]}, bench/clients.py) "
                  f"on CPU 1; {args.rounds} alternating rounds of {args.duration} per row after {args.warmup} of "
                  "warm-up; medians, ratios per round then their median (lowest to highest). Server CPU: its "
                  "process's user + system time per call. Replies compressed: the load tool's count (the replies' "
                  "grpc-encoding); grpcio does not show it (n/a). Client cores busy: the client's own CPU time over "
                  "the measured time (near 1: the client, not the server, set the rate).", "",
                  "| model | in flight | grpc-showcase | MLServer | ratio | server CPU µs/req, ours / MLServer "
                  "| replies compressed, ours / MLServer | client cores busy, ours / MLServer | host steal, most |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for model in models:
            for concurrency in [16, 1]:
                ours, ref = results[(model, concurrency, client, "ours")], results[(model, concurrency, client, "mlserver")]
                cpu = f"{statistics.median(o['cpu_us'] for o in ours):.1f} / {statistics.median(r['cpu_us'] for r in ref):.1f}"
                busy = " / ".join(f"{statistics.median(r['client_busy'] for r in runs):.2f}" for runs in (ours, ref))
                tail = f"{compressed(ours)} / {compressed(ref)} | {busy} | {max(r['steal'] for r in ours + ref):.1f}%"
                if concurrency == 16:
                    ratios = sorted(o["rps"] / r["rps"] for o, r in zip(ours, ref))
                    lines.append(f"| {model} | 16 | {statistics.median(o['rps'] for o in ours):,.0f} requests/s | "
                                 f"{statistics.median(r['rps'] for r in ref):,.0f} requests/s | "
                                 f"**{statistics.median(ratios):.1f}x** requests/s ({ratios[0]:.1f} to {ratios[-1]:.1f}) "
                                 f"| {cpu} | {tail} |")
                    targets.append(f"- ModelInfer {model} requests/s at 16 in flight, grpc-showcase / MLServer, "
                                   f"{CLIENTS[client]}: **{statistics.median(ratios):.1f}x** (target 10x or more: "
                                   f"{'met' if statistics.median(ratios) >= 10 else 'NOT met'})")
                else:
                    ratios = sorted(o["p50"] / r["p50"] for o, r in zip(ours, ref))
                    lines.append(f"| {model} | 1 | p50 {statistics.median(o['p50'] for o in ours):.3f} ms | "
                                 f"p50 {statistics.median(r['p50'] for r in ref):.3f} ms | "
                                 f"**{statistics.median(ratios):.3f}x** the p50 ({ratios[0]:.3f} to {ratios[-1]:.3f}) "
                                 f"| {cpu} | {tail} |")
        lines.append("")
    report = "\n".join(lines + ["Targets:", "", *targets]) + "\n"
    print(report)
    out = pathlib.Path(args.target_dir).resolve() / "bench" / "mlserver.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)


if __name__ == "__main__":
    main()
