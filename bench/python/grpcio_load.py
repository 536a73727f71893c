"""A load client that is grpcio itself: the client library our users call the server with.

bench/load (Rust) drives the servers at rates no Python client reaches; this client shows
what the servers do for grpcio's own calls, with grpcio's default settings and the
headers it sends (grpc-accept-encoding: identity, deflate, gzip; its user-agent): one
channel, --concurrency calls in flight (or streams), for --duration after --warmup, and
prints one JSON line: calls (or frames) per second, latency p50 and p99, errors by status,
and, with --server-pid, the server's CPU time per call (utime + stime from
/proc/PID/stat, over the measured part). On small unary calls one Python core cannot
saturate our server: there the comparison is the server's CPU per call, not calls/s.

grpc.aio, one task per call in flight, because it reaches the highest rate on one core:
SayHello against bare tonic, 16 in flight, the client pinned to one CPU, 3 s each,
twice: grpc.aio 5,874 and 6,755 calls/s; the synchronous stub's futures with
add_done_callback 5,000 and 4,769; 16 threads of blocking calls 4,775 and 4,429. (grpc.aio
says `grpc-python-asyncio/<version> grpc-c/...` as its user-agent, the synchronous API
`grpc-python/<version> ...`; grpc-accept-encoding is the same.)

Every reply is checked: its status, and its content against what the RPC must answer
(the greeting's text; the fraud probability and the inference outputs against
models/<id>/reference.json within 1e-3; a video reply's sequence number, size, encoding
and length). Any error makes the exit status 1.

    python grpcio_load.py --addr 127.0.0.1:50051 --rpc hello --concurrency 16 --server-pid PID
    python grpcio_load.py --rpc infer --model digits
    python grpcio_load.py --rpc video --filter edges --width 1280 --height 720 --wire jpeg \\
        --window 4 --frame-data FILE   # FILE: `load --rpc video ... --dump-frame FILE`

The code is generated from proto/ at run time (grpc_tools.protoc into a temporary
directory). The caller pins this process to a CPU (taskset), as it does the load tool.
"""

import argparse
import asyncio
import collections
import importlib
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np

ROOT = Path(__file__).resolve().parent.parent.parent
PROTOS = ["helloworld.proto", "fraud_detection.proto", "video.proto", "inference/grpc_service.proto"]
# video.Encoding, and the filters whose output is gray (a raw frame comes back GRAY8).
JPEG, GRAY8, RGB8 = 1, 3, 4
GRAY_FILTERS = {"grayscale", "edges", "sobel", "motion"}
TOLERANCE = 1e-3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50051", help="host:port (an http:// prefix is dropped)")
    parser.add_argument("--rpc", choices=["hello", "fraud", "infer", "video"], default="hello")
    parser.add_argument("--concurrency", type=int, default=16, help="calls in flight (streams, for video)")
    parser.add_argument("--window", type=int, default=4, help="for video: frames in flight on each stream")
    parser.add_argument("--duration", default="10s", help="measured time, after the warm-up (10s, 500ms)")
    parser.add_argument("--warmup", default="1s")
    parser.add_argument("--server-pid", type=int, help="report the server's CPU time per call")
    parser.add_argument("--models-dir", default=str(ROOT / "models"))
    parser.add_argument("--model", default="fraud", help="for infer: the model (fraud, digits)")
    parser.add_argument("--filter", default="edges", help="for video")
    parser.add_argument("--param", action="append", default=[], help="for video: name=value (repeatable)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--wire", choices=["rgb8", "jpeg"], default="rgb8")
    parser.add_argument("--frame-data", help="for video: the frame's bytes, as `load --dump-frame` writes them "
                                             "(without it: the fixture scaled by OpenCV, close to the load tool's)")
    parser.add_argument("--frame", default=str(ROOT / "tests/fixtures/rocket.jpg"))
    parser.add_argument("--stubs", help="a folder for the generated code, reused when it is there already "
                                        "(default: a temporary one)")
    args = parser.parse_args()
    args.addr = re.sub(r"^https?://", "", args.addr)
    args.duration, args.warmup = seconds(args.duration), seconds(args.warmup)
    return args


def seconds(text):
    """`10s`, `500ms`, `2m` or a bare number of seconds."""
    match = re.fullmatch(r"([\d.]+)(ms|s|m)?", text.strip())
    if not match:
        raise SystemExit(f"not a duration: {text!r}")
    return float(match.group(1)) * {"ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]


def cpu_seconds(pid):
    """User plus system CPU time of process `pid` so far (fields 14 and 15 of
    /proc/PID/stat, after the parenthesized command, which may hold spaces)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def generated_code(stubs):
    """The messages and stubs of PROTOS, generated into the folder `stubs` unless they
    are there already, and imported."""
    out = Path(stubs)
    if not (out / "generated").exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}",
                        f"--grpc_python_out={out}", *PROTOS], check=True, cwd=ROOT / "proto")
        (out / "generated").touch()
    sys.path.insert(0, str(out))
    modules = {}
    for proto in PROTOS:
        name = proto.removesuffix(".proto").replace("/", ".")  # inference/x.proto: inference.x_pb2
        for suffix in ("_pb2", "_pb2_grpc"):
            modules[name.rsplit(".", 1)[-1] + suffix] = importlib.import_module(name + suffix)
    return argparse.Namespace(**modules)


class Tally:
    """What the measured calls gave: latencies of the good ones, errors by label."""

    def __init__(self, warmup_end, end):
        self.warmup_end, self.end = warmup_end, end
        self.latencies = []
        self.errors = collections.Counter()

    def record(self, started, error):
        """One reply to a call started at `started`: `error` is None or its label."""
        if started < self.warmup_end:
            return
        if error is None:
            self.latencies.append(time.perf_counter() - started)
        else:
            self.errors[error] += 1


def reference(args, model):
    return json.loads((Path(args.models_dir) / model / "reference.json").read_text())


def close(values, expected):
    return len(values) == len(expected) and all(abs(a - b) <= TOLERANCE for a, b in zip(values, expected))


def unary_calls(args, code, channel):
    """The stub's method, the requests (cycled), and a check of reply i."""
    if args.rpc == "hello":
        # The load tool's name, so both clients send the same bytes.
        request = code.helloworld_pb2.HelloRequest(name="load")
        return (code.helloworld_pb2_grpc.GreeterStub(channel).SayHello, [request],
                lambda i, reply: None if reply.message == "Hello, load!" else "wrong greeting")
    if args.rpc == "fraud":
        ref = reference(args, "fraud")
        requests = [code.fraud_detection_pb2.PredictionRequest(**r) for r in ref["requests"]]

        def check(i, reply):
            i %= len(requests)
            if reply.transaction_id != requests[i].transaction_id:
                return "wrong transaction_id"
            return None if close([reply.fraud_probability], [ref["outputs"][i][1]]) else "wrong probability"
        return code.fraud_detection_pb2_grpc.FraudDetectionServiceStub(channel).PredictFraud, requests, check
    ref = reference(args, args.model)
    pb = code.grpc_service_pb2
    # One row, as raw little-endian FP32, as tritonclient's InferInput.set_data_from_numpy sends it.
    requests = [pb.ModelInferRequest(
        model_name=args.model,
        inputs=[pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=[1, len(row)])],
        raw_input_contents=[np.asarray(row, "<f4").tobytes()]) for row in ref["inputs"]]

    def check(i, reply):
        if not reply.outputs:
            return "no outputs"
        # Raw bytes (ours) or typed contents (MLServer's default), the first output.
        if reply.raw_output_contents:
            values = np.frombuffer(reply.raw_output_contents[0], "<f4").tolist()
        else:
            values = list(reply.outputs[0].contents.fp32_contents)
        return None if close(values, ref["outputs"][i % len(requests)]) else "wrong outputs"
    return code.grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer, requests, check


async def unary(args, code, channel, tally):
    call, requests, check = unary_calls(args, code, channel)

    async def worker(offset):
        i = offset
        while (started := time.perf_counter()) < tally.end:
            try:
                reply = await call(requests[i % len(requests)])
                error = check(i, reply)
            except grpc.aio.AioRpcError as err:
                error = err.code().name
            tally.record(started, error)
            i += 1

    await asyncio.gather(*(worker(w) for w in range(args.concurrency)))


def video_frame(args):
    """The frame's bytes: the load tool's (--frame-data), or the fixture scaled with
    OpenCV's bilinear filter (the load tool uses the image crate's, and its own JPEG
    encoder, at quality 90 too)."""
    if args.frame_data:
        return Path(args.frame_data).read_bytes()
    import cv2
    picture = cv2.resize(cv2.imread(args.frame), (args.width, args.height), interpolation=cv2.INTER_LINEAR)
    if args.wire == "jpeg":
        return cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    return cv2.cvtColor(picture, cv2.COLOR_BGR2RGB).tobytes()


async def video(args, code, channel, tally):
    """--concurrency ProcessFrames streams, each with --window frames in flight: the
    config, then a frame for every reply, until the end; then the stream is closed and
    the frames in flight are answered."""
    pb = code.video_pb2
    params = dict((k, float(v)) for k, v in (p.split("=", 1) for p in args.param))
    config = pb.ProcessFramesRequest(config=pb.StreamConfig(filter=args.filter, params=params))
    data = video_frame(args)
    encoding = JPEG if args.wire == "jpeg" else RGB8
    if args.filter == "resize":
        size = (int(params.get("width", 320)), int(params.get("height", 240)))
    else:
        size = (args.width, args.height)
    if args.wire == "jpeg":
        reply_encoding, reply_length = JPEG, None
    else:
        channels = 1 if args.filter in GRAY_FILTERS else 3
        reply_encoding, reply_length = (GRAY8 if channels == 1 else RGB8), size[0] * size[1] * channels

    def check(sequence, reply):
        frame = reply.frame
        if frame.sequence_number != sequence:
            return "out of order"
        if (frame.width, frame.height) != size or frame.encoding != reply_encoding:
            return "wrong size or encoding"
        if reply_length is not None and len(frame.data) != reply_length:
            return "wrong length"
        if reply_length is None and frame.data[:2] != b"\xff\xd8":
            return "not a JPEG"
        return None

    async def stream():
        call = code.video_pb2_grpc.VideoProcessingStub(channel).ProcessFrames()
        in_flight = collections.deque()  # (sequence number, when it was sent)
        # Frames go out from one task and replies are read in another, as a real client
        # of a bidirectional stream must: a client that waits for its writes before it
        # reads deadlocks against a server that waits for its reply to be read before it
        # reads the next frame (grpcio's synchronous server does: 1280 x 720 raw frames,
        # 2.76 MB each, filled both flow-control windows).
        window = asyncio.Semaphore(args.window)

        async def writer():
            sequence = 0
            await call.write(config)
            while time.perf_counter() < tally.end:
                await window.acquire()
                frame = pb.Frame(sequence_number=sequence, width=args.width, height=args.height,
                                 encoding=encoding, data=data)
                in_flight.append((sequence, time.perf_counter()))
                await call.write(pb.ProcessFramesRequest(frame=frame))
                sequence += 1
            await call.done_writing()

        # A stream's own failure counts as one measured error.
        failed = tally.warmup_end
        try:
            sending = asyncio.ensure_future(writer())
            while True:
                reply = await call.read()
                if reply is grpc.aio.EOF:
                    break
                if not in_flight:
                    tally.record(failed, "a reply too many")
                    break
                sent, started = in_flight.popleft()
                tally.record(started, check(sent, reply))
                window.release()
            await sending
            if in_flight:
                tally.record(failed, "the stream ended early")
            if (status := await call.code()) != grpc.StatusCode.OK:
                tally.record(failed, status.name)
        except grpc.aio.AioRpcError as err:
            tally.record(failed, err.code().name)

    await asyncio.gather(*(stream() for _ in range(args.concurrency)))


async def run(args, code):
    async with grpc.aio.insecure_channel(args.addr) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        start = time.perf_counter()
        tally = Tally(start + args.warmup, start + args.warmup + args.duration)
        cpu = {}

        def own():
            usage = resource.getrusage(resource.RUSAGE_SELF)
            return usage.ru_utime + usage.ru_stime

        async def read_cpu_at_warmup_end():
            await asyncio.sleep(max(0.0, tally.warmup_end - time.perf_counter()))
            cpu["own"] = own()
            if args.server_pid:
                cpu["server"] = cpu_seconds(args.server_pid)

        cpu_task = asyncio.create_task(read_cpu_at_warmup_end())
        # Bounded: a run that has not ended 30 s after its measured time stops with an
        # error (asyncio.TimeoutError), never hangs its benchmark.
        calls = (video if args.rpc == "video" else unary)(args, code, channel, tally)
        await asyncio.wait_for(calls, args.warmup + args.duration + 30)
        await cpu_task
        cpu["own"] = own() - cpu["own"]
        if args.server_pid:
            cpu["server"] = cpu_seconds(args.server_pid) - cpu["server"]
        return tally, cpu


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1)]


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="grpcio-load-") as temporary:
        code = generated_code(args.stubs or temporary)
    tally, cpu = asyncio.run(run(args, code))
    ok = len(tally.latencies)
    latencies = sorted(tally.latencies)
    # rps: calls (or frames) per second; p50 and p99 in ms; cpu_us: the server's CPU
    # microseconds per call (or frame).
    report = {
        "client": f"grpcio {grpc.__version__} (grpc.aio)",
        "rpc": args.rpc if args.rpc != "video" else f"video {args.filter} {args.width}x{args.height} {args.wire}",
        "concurrency": args.concurrency,
        **({"window": args.window} if args.rpc == "video" else {}),
        "seconds": args.duration,
        "ok": ok,
        "errors": dict(tally.errors),
        "rps": round(ok / args.duration, 1),
        "p50": round(percentile(latencies, 0.5) * 1e3, 3),
        "p99": round(percentile(latencies, 0.99) * 1e3, 3),
    }
    if "server" in cpu:
        report["cpu_us"] = round(cpu["server"] * 1e6 / max(ok, 1), 2)
        report["server_cores_busy"] = round(cpu["server"] / args.duration, 3)
    # Near one core busy, the client, not the server, sets the rate.
    report["client_cores_busy"] = round(cpu["own"] / args.duration, 3)
    print(json.dumps(report), flush=True)
    # A run with errors is not a measurement: say so in the exit status.
    sys.exit(1 if tally.errors or ok == 0 else 0)


if __name__ == "__main__":
    main()
