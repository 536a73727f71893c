"""The Open Inference Protocol against Seldon MLServer: requests/s at 16 in flight and p50
latency at 1 in flight, ModelInfer on one row, the showcase against MLServer serving the
same ONNX files (bench/mlserver/runtime.py, onnxruntime on one thread), both over gRPC,
driven by the same load tool (`load --rpc infer`: raw FP32 rows, as tritonclient sends
them), alternating, each server pinned to CPU 0 and the tool to CPU 1.

    bench/mlserver.sh [--rounds 3] [--duration 3s]
"""

import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ["fraud", "digits"]


def wait_for(port, log=None):
    import socket
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    log_tail = "" if log is None else "\n" + pathlib.Path(log).read_text()[-3000:]
    sys.exit(f"nothing listens on {port}{log_tail}")


def start_ours(binary, port, data):
    process = subprocess.Popen(
        ["taskset", "-c", "0", binary, "--listen", f"127.0.0.1:{port}", "--log-level", "warn",
         "--data-dir", data],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port)
    return process


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
    process = subprocess.Popen(["taskset", "-c", "0", mlserver, "start", "."], cwd=folder,
                               stdout=log, stderr=subprocess.STDOUT)
    wait_for(port, folder / "mlserver.log")
    time.sleep(2)  # the models load after the port opens
    return process


def load(tool, port, model, concurrency, duration):
    out = subprocess.run(
        ["taskset", "-c", "1", tool, "--addr", f"http://127.0.0.1:{port}", "--rpc", "infer",
         "--model", model, "--rows", "1", "--concurrency", str(concurrency), "--duration", duration,
         "--models-dir", str(ROOT / "models")],
        capture_output=True, text=True, check=True).stdout
    if "errors {}" not in out:
        sys.exit(f"errors in the run:\n{out}")
    rps = float(re.search(r"requests/s (\S+)", out).group(1))
    p50 = float(re.search(r"p50 (\S+)", out).group(1))
    return rps, p50


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", default=str(ROOT / "target"))
    parser.add_argument("--profile", default="release")
    parser.add_argument("--mlserver", required=True, help="the mlserver command")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", default="3s")
    args = parser.parse_args()
    bin_dir = pathlib.Path(args.target_dir).resolve() / args.profile
    mlserver = os.path.abspath(args.mlserver)
    ours_port, ref_port = 50190, 50195
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as folder:
        servers = {
            "ours": start_ours(str(bin_dir / "grpc-showcase"), ours_port, data),
            "mlserver": start_mlserver(mlserver, ref_port, pathlib.Path(folder)),
        }
        ports = {"ours": ours_port, "mlserver": ref_port}
        results = {}
        try:
            for model in MODELS:
                for concurrency in [16, 1]:
                    for _ in range(args.rounds):
                        for name in ["ours", "mlserver"]:
                            results.setdefault((model, concurrency, name), []).append(
                                load(str(bin_dir / "load"), ports[name], model, concurrency, args.duration))
        finally:
            for process in servers.values():
                process.terminate()
                process.wait()
    print("| model | in flight | grpc-showcase | MLServer | ratio |")
    print("|---|---|---|---|---|")
    for model in MODELS:
        ours, ref = results[(model, 16, "ours")], results[(model, 16, "mlserver")]
        ratios = sorted(o[0] / r[0] for o, r in zip(ours, ref))
        print(f"| {model} | 16 | {statistics.median(o[0] for o in ours):,.0f} requests/s | "
              f"{statistics.median(r[0] for r in ref):,.0f} requests/s | "
              f"**{statistics.median(ratios):.1f}x** requests/s ({ratios[0]:.1f} to {ratios[-1]:.1f}) |")
        ours, ref = results[(model, 1, "ours")], results[(model, 1, "mlserver")]
        ratios = sorted(o[1] / r[1] for o, r in zip(ours, ref))
        print(f"| {model} | 1 | p50 {statistics.median(o[1] for o in ours):.3f} ms | "
              f"p50 {statistics.median(r[1] for r in ref):.3f} ms | "
              f"**{statistics.median(ratios):.3f}x** the p50 ({ratios[0]:.3f} to {ratios[-1]:.3f}) |")


if __name__ == "__main__":
    main()
