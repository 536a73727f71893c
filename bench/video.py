"""Video frames per core: grpc-showcase against the Python + OpenCV server, in one run.

Run through bench/video.sh, which builds the server and the load tool and installs the
Python reference (bench/python/video_server.py: grpcio and OpenCV) first. This script:

- starts both servers, each pinned to CPU 0 (taskset), so that frames/s is frames/s per
  core; the load tool runs pinned to CPU 1 and drives one ProcessFrames stream with
  --window frames in flight, the same client for both;
- for every row (frame size x wire x filter) runs the two servers alternately, --rounds
  times, the order rotating each round, and reports each server's median frames/s and
  the median of the per-round ratios (ours / OpenCV's): adjacent runs see the same noise
  on this shared machine;
- sends the fixture photo (tests/fixtures/rocket.jpg, 160 x 120, raw RGB8) through every
  filter of both servers once and reports how far apart the outputs are: the share of
  equal pixels for edges, the mean absolute difference (gray levels) for the others.

Writes the tables to stdout and to $CARGO_TARGET_DIR/bench/video.md.

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
import datetime
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, Server, load_once, pinned  # noqa: E402  (shared with bench/run.py)

FILTERS = ["edges", "gaussian_blur", "sobel", "grayscale", "resize"]
SIZES = [(640, 480), (1280, 720)]
WIRES = ["rgb8", "jpeg"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", default=str(ROOT / "target"))
    parser.add_argument("--profile", default="dist")
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


def our_server(tools, work, log, name, cpus, port):
    """grpc-showcase pinned to `cpus`, listening on `port`, its data under `work`."""
    return Server(name, port, pinned(cpus, [str(tools / "grpc-showcase"), "--listen", f"127.0.0.1:{port}",
                                            "--log-level", "warn", "--data-dir", str(work / f"data-{port}")]), log)


def frames_per_second(args, tools, server, size, wire, name):
    width, height = size
    rpc = ["--rpc", "video", "--filter", name, "--width", str(width), "--height", str(height),
           "--wire", wire, "--concurrency", "1", "--window", str(args.window)]
    if isinstance(server, Pair):
        return server.frames_per_second(args, tools, rpc)
    return load_once(args, tools, server, rpc, server.process.pid, None, args.warmup)


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
SCALING_ROW = ROW + " {:.0f} | {:.2f}x | {:.2f} |"


def alternated(args, tools, servers):
    """Every row (frame size x wire x filter) on each of `servers`, `args.rounds` times,
    the order rotating each round: yields the row's labels and, for each server, its
    rounds' frames/s."""
    for size in [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]:
        for wire in args.wires.split(","):
            for name in args.filters.split(","):
                fps = [[] for _ in servers]
                for round_ in range(args.rounds):
                    for i in [(round_ + k) % len(servers) for k in range(len(servers))]:
                        fps[i].append(frames_per_second(args, tools, servers[i], size, wire, name)["rps"])
                labels = (f"{size[0]} x {size[1]}", "raw RGB8" if wire == "rgb8" else "JPEG", name)
                yield labels, fps


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
        return our_server(tools, work, log, name, cpus, port)

    servers = [ours("1 core", "0", 50076), ours("2 cores", "0,1", 50077),
               Pair([ours("CPU 0", "0", 50078), ours("CPU 1", "1", 50079)])]
    rows = []
    try:
        for labels, (one_core, two_cores, pair) in alternated(args, tools, servers):
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
        f"Measured {datetime.date.today()}, `{args.profile}` build; grpc-showcase pinned to CPU 0, and to CPUs 0 "
        f"and 1; the load tool on CPU 1; one ProcessFrames stream, {args.window} frames in flight; "
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
    work = Path(tempfile.mkdtemp(prefix="video-bench-"))
    if args.scaling:
        return scaling(args, tools, work, target)
    stubs = work / "stubs"
    stubs.mkdir()
    subprocess.run([args.python, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"--python_out={stubs}",
                    f"--grpc_python_out={stubs}", "video.proto"], check=True)
    log = open(work / "servers.log", "w")
    ours = our_server(tools, work, log, "grpc-showcase", 0, 50076)
    reference = Server("Python grpcio + OpenCV", 50075, pinned(0, [args.python, str(ROOT / "bench/python/video_server.py"),
                                                                  "--port", "50075", "--stubs", str(stubs)]), log)
    try:
        rows = []
        for labels, (ours_fps, reference_fps) in alternated(args, tools, [ours, reference]):
            ratios = [a / b for a, b in zip(ours_fps, reference_fps)]
            rows.append((*labels, statistics.median(ours_fps), statistics.median(reference_fps),
                         statistics.median(ratios), min(ratios), max(ratios)))
            print(ROW.format(*rows[-1]), flush=True)
        agree = agreement(args, stubs, ours, reference)
    finally:
        ours.stop()
        reference.stop()
        log.close()
    ratios = [r[5] for r in rows]
    report = [
        f"Measured {datetime.date.today()}, `{args.profile}` build; each server pinned to one CPU, the load tool "
        f"on the other; one ProcessFrames stream, {args.window} frames in flight; {args.rounds} alternating rounds of "
        f"{args.duration} per row. Frames/s per core (medians); ratio = ours / OpenCV's, median of the rounds' "
        "ratios (lowest to highest).",
        "",
        "| frame | wire | filter | grpc-showcase frames/s | Python + OpenCV frames/s | ratio |",
        "|---|---|---|---|---|---|",
        *(ROW.format(*r) for r in rows),
        "",
        f"Ratios: lowest {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x, over {len(ratios)} rows.",
        "",
        "Agreement with OpenCV's output on the fixture (160 x 120, raw RGB8 in):",
        "",
        *(f"- {line}" for line in agree),
    ]
    write_report(target, "video.md", "\n".join(report))


if __name__ == "__main__":
    main()
