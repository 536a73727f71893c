"""Video frames per core: grpc-showcase against the Python + OpenCV server, in one run.

Run through bench/video.sh, which builds the server and the load tool and installs the
Python reference (bench/python/video_server.py: grpcio and OpenCV) first. This script:

- starts both servers, each pinned to CPU 0 (taskset), so that frames/s is frames/s per
  core; the client runs pinned to CPU 1 and drives one ProcessFrames stream with
  --window frames in flight, the same client for both servers;
- the clients (--clients, bench/clients.py): the load tool, with grpcio's headers (which
  say it decodes gzip: a server that compresses for such clients gzips every frame), and
  grpcio itself (bench/python/grpcio_load.py), the users' client, sending the very bytes
  the load tool sends (`load --dump-frame`); `bare` adds the load tool without them;
- for every row (frame size x wire x filter) runs the two servers alternately, --rounds
  times, the order rotating each round, each client in turn, and reports per client each
  server's median frames/s and the median of the per-round ratios (ours / OpenCV's):
  adjacent runs see the same noise on this shared machine;
- sends the fixture photo (tests/fixtures/rocket.jpg, 160 x 120, raw RGB8) through every
  filter of both servers once and reports how far apart the outputs are: the share of
  equal pixels for edges, the mean absolute difference (gray levels) for the others.

Writes the tables, one per client, to stdout and to $CARGO_TARGET_DIR/bench/video.md.
--server-binary measures another build of the server (a before/after run), --port-base
moves the ports.

With --scaling it measures instead how one stream scales from one core to two: our
server twice, pinned to CPU 0 and to CPUs 0 and 1, the load tool on CPU 1 (it shares
the second core: with JPEG frames it needs 3 to 6% of it, more at more frames/s),
alternating, by default on JPEG frames at 1280 x 720 with 8 frames in flight; written to
bench/video-scaling.md.
In the same rotation it runs two of our servers side by side, pinned to CPU 0 and to CPU
1, one stream each: what this machine gives two independent one-core processes, the
ceiling against which one stream on both CPUs is judged (a shared VM's second vCPU need
not double the work).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clients import CLIENTS, ROOT, Server, client_list, load_once, pinned, report_head, server_binary  # noqa: E402

FILTERS = ["edges", "gaussian_blur", "sobel", "grayscale", "resize", "invert"]
SIZES = [(640, 480), (1280, 720)]
WIRES = ["rgb8", "jpeg"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", default=str(ROOT / "target"))
    parser.add_argument("--profile", default="dist")
    parser.add_argument("--server-binary", help="the grpc-showcase binary to measure (default: the profile's build)")
    parser.add_argument("--clients", type=client_list, default=client_list("load,grpcio"),
                        help=f"which clients drive the rows, of {','.join(CLIENTS)} (the load tool alone with --scaling)")
    parser.add_argument("--port-base", type=int, default=50070, help="servers listen on ports 5 to 9 after it")
    parser.add_argument("--python", default=sys.executable, help="the Python with grpcio and OpenCV")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", default="4s")
    parser.add_argument("--warmup", default="1s")
    parser.add_argument("--window", type=int, help="frames in flight on the stream (4; 8 with --scaling)")
    parser.add_argument("--filters", default=",".join(FILTERS))
    parser.add_argument("--sizes", help="(640x480,1280x720; 1280x720 with --scaling)")
    parser.add_argument("--wires", help="(rgb8,jpeg; jpeg with --scaling)")
    parser.add_argument("--scaling", action="store_true",
                        help="one core against two for one stream (defaults: --sizes 1280x720 --wires jpeg --window 8)")
    # load_once reads these (bench/run.py's steal accounting).
    parser.set_defaults(steal_repeats=0, max_steal=100.0)
    args = parser.parse_args()
    # With --scaling, JPEG frames: the load tool needs 3 to 6% of the core it shares
    # (5.6% at 668 frames/s of 640 x 480).
    args.sizes = args.sizes or ("1280x720" if args.scaling else ",".join(f"{w}x{h}" for w, h in SIZES))
    args.wires = args.wires or ("jpeg" if args.scaling else ",".join(WIRES))
    args.window = args.window or (8 if args.scaling else 4)
    return args


def our_server(args, tools, work, log, name, cpus, port):
    """grpc-showcase pinned to `cpus`, listening on `port`, its data under `work`."""
    return Server(name, port, pinned(cpus, [str(server_binary(args, tools)), "--listen", f"127.0.0.1:{port}",
                                            "--log-level", "warn", "--data-dir", str(work / f"data-{port}")]), log)


def frame_data(args, tools, size, wire):
    """The file of the frame the load tool sends at `size` over `wire`, which the grpcio
    client sends too (written once by `load --dump-frame`)."""
    path = args.work / f"frame-{size[0]}x{size[1]}.{wire}"
    if not path.exists():
        subprocess.run([str(tools / "load"), "--rpc", "video", "--width", str(size[0]), "--height", str(size[1]),
                        "--wire", wire, "--dump-frame", str(path)], check=True, cwd=ROOT)
    return path


def frames_per_second(args, tools, server, size, wire, name, client="load"):
    width, height = size
    rpc = ["--rpc", "video", "--filter", name, "--width", str(width), "--height", str(height),
           "--wire", wire, "--concurrency", "1", "--window", str(args.window)]
    if isinstance(server, Pair):
        return server.frames_per_second(args, tools, rpc)
    if client == "grpcio":
        rpc += ["--frame-data", str(frame_data(args, tools, size, wire))]
    return load_once(args, tools, server, rpc, server.process.pid, None, args.warmup, client)


class Pair:
    """Two of our servers, one pinned to each CPU, each driven by its own stream at the same
    time: what this machine gives two independent single-core processes, the ceiling for
    one server on both CPUs."""

    def __init__(self, servers):
        self.name = "two 1-core servers"
        self.servers = servers

    def frames_per_second(self, args, tools, rpc):
        """Both streams' frames/s added up, each from its own run of the load tool (on
        CPU 1), the two at the same time."""
        with ThreadPoolExecutor(len(self.servers)) as pool:
            runs = [pool.submit(load_once, args, tools, s, rpc, s.process.pid, None, args.warmup)
                    for s in self.servers]
            return {"rps": sum(run.result()["rps"] for run in runs)}

    def stop(self):
        for s in self.servers:
            s.stop()


ROW = "| {} | {} | {} | {:.0f} | {:.0f} | **{:.2f}x** ({:.2f} to {:.2f}) |"
# With each server's CPU time per frame and the ratio of those (OpenCV's / ours: frames
# per core-second, a comparison that holds where the client sets the rate), and the
# client's cores busy against each server (near 1: the client set the rate).
CLIENT_ROW = ROW + " {:.2f} / {:.2f} | {:.2f}x | {:.2f} / {:.2f} |"
SCALING_ROW = ROW + " {:.0f} | {:.2f}x | {:.2f} |"


def alternated(args, tools, servers, clients=("load",)):
    """Every row (frame size x wire x filter) on each of `servers`, `args.rounds` times,
    the order rotating each round, each of `clients` in turn: yields the row's labels and,
    for each client, for each server, its rounds' frames/s."""
    for size in [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]:
        for wire in args.wires.split(","):
            for name in args.filters.split(","):
                runs = {client: [[] for _ in servers] for client in clients}
                for round_ in range(args.rounds):
                    for client in clients:
                        for i in [(round_ + k) % len(servers) for k in range(len(servers))]:
                            runs[client][i].append(frames_per_second(args, tools, servers[i], size, wire, name, client))
                labels = (f"{size[0]} x {size[1]}", "raw RGB8" if wire == "rgb8" else "JPEG", name)
                yield labels, runs


def write_report(target, file_name, text):
    """`text` to stdout and to $CARGO_TARGET_DIR/bench/`file_name`."""
    print(text)
    out = target / "bench" / file_name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


def agreement(args, stubs, ours, reference):
    """Each filter's output from both servers on the fixture, compared."""
    script = f"""
import sys, numpy as np, grpc
sys.path.insert(0, {str(stubs)!r})
import video_pb2, video_pb2_grpc
import cv2
photo = cv2.cvtColor(cv2.imread({str(ROOT / 'tests/fixtures/rocket.jpg')!r}), cv2.COLOR_BGR2RGB)
h, w = photo.shape[:2]
def run(port, name):
    stub = video_pb2_grpc.VideoProcessingStub(grpc.insecure_channel(f"127.0.0.1:{{port}}"))
    config = video_pb2.StreamConfig(filter=name)
    if name == "resize":
        config.params["width"] = 80; config.params["height"] = 60
    frame = video_pb2.Frame(sequence_number=1, width=w, height=h, encoding=4, data=photo.tobytes())
    reply = list(stub.ProcessFrames(iter([video_pb2.ProcessFramesRequest(config=config),
                                          video_pb2.ProcessFramesRequest(frame=frame)])))[0].frame
    return np.frombuffer(reply.data, np.uint8).astype(np.int16)
for name in {FILTERS!r}:
    a, b = run({ours.port}, name), run({reference.port}, name)
    if name == "edges":
        print(name, "equal pixels", f"{{(a == b).mean() * 100:.2f}}%")
    else:
        print(name, "mean absolute difference", f"{{np.abs(a - b).mean():.2f}}")
"""
    out = subprocess.run([args.python, "-c", script], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"the agreement check failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()


def scaling(args, tools, work, target):
    """One stream on one core against two, our server alone, alternating with two 1-core
    servers side by side (the machine's ceiling for two cores)."""
    log = open(work / "servers.log", "w")

    def ours(name, cpus, port):
        return our_server(args, tools, work, log, name, cpus, args.port_base + port)

    servers = [ours("1 core", "0", 6), ours("2 cores", "0,1", 7), Pair([ours("CPU 0", "0", 8), ours("CPU 1", "1", 9)])]
    rows = []
    try:
        for labels, runs in alternated(args, tools, servers):
            one_core, two_cores, pair = ([r["rps"] for r in server_runs] for server_runs in runs["load"])
            one, two, ceiling = (statistics.median(f) for f in (one_core, two_cores, pair))
            per_round = [b / a for a, b in zip(one_core, two_cores)]
            rows.append((*labels, one, two, two / one, min(per_round), max(per_round), ceiling, ceiling / one,
                         two / ceiling))
            print(SCALING_ROW.format(*rows[-1]), flush=True)
    finally:
        for s in servers:
            s.stop()
        log.close()
    text = "\n".join([
        " ".join(report_head(args, server_binary(args, tools))[::2]),
        "",
        "grpc-showcase pinned to CPU 0, and to CPUs 0 "
        f"and 1; the load tool (grpcio's headers) on CPU 1; one ProcessFrames stream, {args.window} frames in flight; "
        f"{args.rounds} alternating rounds of {args.duration} per row. Median frames/s; ratio = two cores' "
        "median / one core's (the rounds' own ratios, lowest to highest). The machine's ceiling: two servers "
        "pinned to CPU 0 and to CPU 1, one stream each at the same time (both load tools on CPU 1), frames/s "
        "added up, in the same rotation.",
        "",
        "| frame | wire | filter | 1 core frames/s | 2 cores frames/s | ratio | two 1-core servers frames/s "
        "| their ratio | 2 cores / two servers |",
        "|---|---|---|---|---|---|---|---|---|",
        *(SCALING_ROW.format(*r) for r in rows),
    ])
    write_report(target, "video-scaling.md", text)


def main():
    args = parse_args()
    target = Path(args.target_dir)
    tools = target / args.profile
    work = args.work = Path(tempfile.mkdtemp(prefix="video-bench-"))
    args.grpcio_stubs = work / "grpcio-stubs"
    if args.scaling:
        return scaling(args, tools, work, target)
    stubs = work / "stubs"
    stubs.mkdir()
    subprocess.run([args.python, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"--python_out={stubs}",
                    f"--grpc_python_out={stubs}", "video.proto"], check=True)
    log = open(work / "servers.log", "w")
    ours = our_server(args, tools, work, log, "grpc-showcase", 0, args.port_base + 6)
    port = args.port_base + 5
    reference = Server("Python grpcio + OpenCV", port, pinned(0, [args.python, str(ROOT / "bench/python/video_server.py"),
                                                                 "--port", str(port), "--stubs", str(stubs)]), log)
    rows = {client: [] for client in args.clients}
    try:
        for labels, runs in alternated(args, tools, [ours, reference], args.clients):
            for client, (ours_runs, reference_runs) in runs.items():
                ours_fps, reference_fps = [r["rps"] for r in ours_runs], [r["rps"] for r in reference_runs]
                ratios = [a / b for a, b in zip(ours_fps, reference_fps)]
                cpu_ratios = [b["cpu_us"] / a["cpu_us"] for a, b in zip(ours_runs, reference_runs)]
                rows[client].append((*labels, statistics.median(ours_fps), statistics.median(reference_fps),
                                     statistics.median(ratios), min(ratios), max(ratios),
                                     *(statistics.median(r["cpu_us"] for r in server_runs) / 1000
                                       for server_runs in (ours_runs, reference_runs)),
                                     statistics.median(cpu_ratios),
                                     *(statistics.median(r["client_busy"] for r in server_runs)
                                       for server_runs in (ours_runs, reference_runs))))
                print(f"{CLIENTS[client]}: " + CLIENT_ROW.format(*rows[client][-1]), flush=True)
        agree = agreement(args, stubs, ours, reference)
    finally:
        ours.stop()
        reference.stop()
        log.close()
    head = " ".join(report_head(args, server_binary(args, tools))[::2])
    report = []
    for client, client_rows in rows.items():
        ratios = [r[5] for r in client_rows]
        report += [
            f"#### Video frames per core, driven by the {CLIENTS[client]}",
            "",
            head,
            "",
            f"Each server pinned to one CPU, the client ({CLIENTS[client]}, bench/clients.py) on the other; one "
            f"ProcessFrames stream, {args.window} frames in flight; {args.rounds} alternating rounds of "
            f"{args.duration} per row after {args.warmup} of warm-up. Frames/s per core (medians); ratio = ours / "
            "OpenCV's, median of the rounds' ratios (lowest to highest). Server CPU per frame: each server's "
            "user + system time over the measured frames; its ratio, OpenCV's / ours, is the frames per "
            "core-second of the two, which holds where the client sets the rate. Client cores busy: the "
            "client's own CPU time over the measured time (near 1: the client, not the server, set the rate: "
            "grpcio on raw frames).",
            "",
            "| frame | wire | filter | grpc-showcase frames/s | Python + OpenCV frames/s | ratio "
            "| server CPU ms/frame, ours / OpenCV | CPU ratio | client cores busy, ours / OpenCV |",
            "|---|---|---|---|---|---|---|---|---|",
            *(CLIENT_ROW.format(*r) for r in client_rows),
            "",
            f"Ratios: lowest {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x, over {len(ratios)} rows.",
            "",
        ]
    report += [
        "Agreement with OpenCV's output on the fixture (160 x 120, raw RGB8 in):",
        "",
        *(f"- {line}" for line in agree),
    ]
    write_report(target, "video.md", "\n".join(report))


if __name__ == "__main__":
    main()
