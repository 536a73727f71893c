"""A client of ``video.VideoProcessing``: streams the frames of a real video through a
filter on the server and writes the processed video::

    .venv/bin/python examples/python/video.py tests/fixtures/rocket.mp4 --filter edges -o edges.mp4
    .venv/bin/python examples/python/video.py clip.mp4 --filter gaussian_blur --param sigma=4 \\
        -o blur.mp4
    .venv/bin/python examples/python/video.py photos/ --filter motion -o motion/  # images
    .venv/bin/python examples/python/video.py --list-filters

What it shows:

- the "config first, then data" bidirectional stream: one ``StreamConfig`` message, then
  one message per frame, and one reply per frame, in order;
- sending and receiving at the same time: grpcio pulls the request iterator (which
  decodes the video) on a thread of its own while this thread encodes the replies, and
  it pulls the next frame only when the last one could be sent: HTTP/2 flow control is
  the back-pressure, so a slow server slows the decoder down instead of filling memory;
- message size limits set on purpose, on both sides: a raw 1080p RGB frame is 6.2 MB,
  over grpcio's 4 MiB default for received messages;
- letting the server do the work: the config asks for the encoding the output needs
  (raw RGB for the .mp4 encoder, PNG for a folder), so this client never decodes a
  processed picture.

Video in and out goes through PyAV (``av`` on PyPI), whose wheels carry FFmpeg with
libx264: any video FFmpeg reads goes in, and an .mp4 (H.264, the input's frame times)
comes out. A folder of .jpg/.jpeg/.png images is sent as it is, in name order, and any
output path not ending in .mp4 is a folder of PNG frames. Start the server first.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import grpc

import protos  # noqa: F401  (generates the code from proto/ on first use)
import video_pb2
import video_pb2_grpc

IMAGE_ENCODINGS = {
    ".jpg": video_pb2.ENCODING_JPEG,
    ".jpeg": video_pb2.ENCODING_JPEG,
    ".png": video_pb2.ENCODING_PNG,
}
MICROSECOND = Fraction(1, 1_000_000)


class Source:
    """The frames to send, as ``Frame`` messages, each with how long it is shown (µs)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        if path.is_dir():
            self.images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_ENCODINGS)
            if not self.images:
                raise SystemExit(f"no .jpg, .jpeg or .png file in {path}")
            self.frame_us = round(1_000_000 / fps)
            self.count = len(self.images)
        else:
            self.images = None
            self.container = av.open(str(path))
            self.stream = self.container.streams.video[0]
            self.stream.thread_type = "AUTO"  # decode on several threads
            self.count = self.stream.frames  # 0 when the file does not say
            rate = self.stream.average_rate or 25
            self.frame_us = round(1_000_000 / float(rate))

    def frames(self) -> Iterator[tuple[video_pb2.Frame, int]]:
        if self.images is not None:
            for k, image in enumerate(self.images):
                # The server reads the size from the file's header.
                frame = video_pb2.Frame(
                    presentation_timestamp_us=k * self.frame_us,
                    encoding=IMAGE_ENCODINGS[image.suffix.lower()],
                    data=image.read_bytes(),
                )
                yield frame, self.frame_us
            return
        time_base = self.stream.time_base
        for picture in self.container.decode(self.stream):  # in presentation order
            rgb = picture.to_rgb()  # rgb24: 3 bytes a pixel
            plane, row = rgb.planes[0], rgb.width * 3
            data = bytes(plane)
            if plane.line_size != row:  # rows may be padded: keep each row's pixels only
                data = b"".join(
                    data[y * plane.line_size : y * plane.line_size + row] for y in range(rgb.height)
                )
            duration_us = (
                round(picture.duration * time_base / MICROSECOND)
                if picture.duration
                else self.frame_us
            )
            frame = video_pb2.Frame(
                presentation_timestamp_us=round((picture.pts or 0) * time_base / MICROSECOND),
                width=rgb.width,
                height=rgb.height,
                encoding=video_pb2.ENCODING_RGB8,
                data=data,
            )
            yield frame, duration_us
        self.container.close()


class Sink:
    """Where the processed frames go: an .mp4 (H.264) or a folder of PNG files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.video = path.suffix.lower() == ".mp4"
        self.container = None
        self.written = 0
        self.durations: dict[int, int] = {}  # frame time -> how long it shows, µs
        if not self.video:
            path.mkdir(parents=True, exist_ok=True)

    def encoding(self) -> int:
        """What to ask the server for: what this sink writes as it comes."""
        return video_pb2.ENCODING_RGB8 if self.video else video_pb2.ENCODING_PNG

    def write(self, frame: video_pb2.Frame, timestamp_us: int, duration_us: int) -> None:
        if frame.encoding != self.encoding():
            raise SystemExit(f"a reply in {video_pb2.Encoding.Name(frame.encoding)}, not as asked")
        if not self.video:
            (self.path / f"frame-{self.written:05}.png").write_bytes(frame.data)
            self.written += 1
            return
        if len(frame.data) != frame.width * frame.height * 3:
            raise SystemExit("an RGB8 reply of the wrong length")
        if self.container is None:  # the first frame gives the size
            self.container = av.open(str(self.path), "w")
            self.stream = self.container.add_stream("libx264")
            self.stream.width, self.stream.height = frame.width, frame.height
            self.stream.pix_fmt = "yuv420p"
            # Frame times in microseconds, as they came: the output keeps the input's timing.
            self.stream.codec_context.time_base = MICROSECOND
            self.stream.time_base = MICROSECOND
        picture = av.VideoFrame(frame.width, frame.height, "rgb24")
        plane, row = picture.planes[0], frame.width * 3
        data = frame.data
        if plane.line_size != row:  # the frame's rows may be padded: pad ours to match
            padding = bytes(plane.line_size - row)
            data = b"".join(data[y * row : (y + 1) * row] + padding for y in range(frame.height))
        plane.update(data)
        picture = picture.reformat(format="yuv420p")
        picture.pts, picture.time_base = timestamp_us, MICROSECOND
        self.durations[timestamp_us] = duration_us
        self.mux(self.stream.encode(picture))
        self.written += 1

    def mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:  # in decoding order; each says how long its frame shows
            packet.duration = self.durations.pop(packet.pts, packet.duration)
        self.container.mux(packets)

    def finish(self) -> None:
        if self.container is not None:
            self.mux(self.stream.encode(None))  # flush the encoder
            self.container.close()


def list_filters(stub: video_pb2_grpc.VideoProcessingStub) -> None:
    answer = stub.ListFilters(video_pb2.ListFiltersRequest())
    for info in answer.filters:
        print(f"{info.name}: {info.description}")
        for p in info.params:
            print(f"    {p.name} = {p.default:g} ({p.min:g} to {p.max:g}): {p.description}")
    print(f"frames up to {answer.max_frame_pixels} pixels and {answer.max_frame_bytes} bytes")


def run(args: argparse.Namespace) -> None:
    """Streams the input's frames through the filter and writes the output."""
    options = [
        # grpcio takes at most 4 MiB by default; frames are larger.
        ("grpc.max_send_message_length", args.max_message_size),
        ("grpc.max_receive_message_length", args.max_message_size),
    ]
    compression = grpc.Compression.Gzip if args.compression == "gzip" else None
    with grpc.insecure_channel(args.server, options=options, compression=compression) as channel:
        stub = video_pb2_grpc.VideoProcessingStub(channel)
        if args.list_filters:
            list_filters(stub)
            return
        if args.input is None:
            raise SystemExit("give an input video or folder (or --list-filters)")
        output = args.output or Path(f"{args.input.stem}-{args.filter}.mp4")
        source, sink = Source(args.input, args.fps), Sink(output)
        # Each frame's time and duration, by sequence number, for its reply.
        timing: dict[int, tuple[int, int]] = {}
        sent_bytes = 0

        def requests() -> Iterator[video_pb2.ProcessFramesRequest]:
            """The config, then one message per frame, decoded only as grpcio asks."""
            nonlocal sent_bytes
            config = video_pb2.StreamConfig(
                filter=args.filter, params=dict(args.param), output_encoding=sink.encoding()
            )
            yield video_pb2.ProcessFramesRequest(config=config)
            for sequence_number, (frame, duration_us) in enumerate(source.frames()):
                frame.sequence_number = sequence_number
                timing[sequence_number] = (frame.presentation_timestamp_us, duration_us)
                request = video_pb2.ProcessFramesRequest(frame=frame)
                sent_bytes += request.ByteSize()
                yield request

        started = time.monotonic()
        frames = received_bytes = shown_us = 0
        size = (0, 0)
        try:
            for reply in stub.ProcessFrames(requests()):
                received_bytes += reply.ByteSize()
                timestamp_us, duration_us = timing.pop(reply.frame.sequence_number)
                sink.write(reply.frame, timestamp_us, duration_us)
                size = (reply.frame.width, reply.frame.height)
                frames += 1
                shown_us += duration_us
                if sys.stderr.isatty():
                    print(f"\r{frames}/{source.count or '?'} frames", end="", file=sys.stderr)
        except grpc.RpcError as error:
            sink.finish()
            raise SystemExit(
                f"the server ended the stream after {frames} frames: "
                f"{error.code().name}: {error.details()}"
            ) from None
        sink.finish()
        if sys.stderr.isatty():
            print(file=sys.stderr)
        seconds = time.monotonic() - started
        print(
            f"{frames} frames in {seconds:.2f} s ({frames / seconds:.1f} frames/s); "
            f"sent {sent_bytes / 1e6:.2f} MB, received {received_bytes / 1e6:.2f} MB"
            + (" (messages before compression)" if compression else "")
        )
        print(f"wrote {output} ({size[0]} x {size[1]}, {frames} frames, {shown_us / 1e6:.2f} s)")


def parameter(text: str) -> tuple[str, float]:
    name, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"{text!r} is not name=value")
    return name, float(value)


def main() -> None:
    arguments = argparse.ArgumentParser(
        description="Streams a video's frames through a filter on the server."
    )
    arguments.add_argument("input", nargs="?", type=Path, help="a video, or a folder of images")
    arguments.add_argument("-o", "--output", type=Path, help="an .mp4, or a folder for PNG frames")
    arguments.add_argument("--filter", default="edges", help="the filter (see --list-filters)")
    arguments.add_argument(
        "--param", type=parameter, action="append", default=[], help="name=value, repeatable"
    )
    arguments.add_argument("--fps", type=float, default=25.0, help="frames/s of a folder")
    arguments.add_argument("--compression", choices=["none", "gzip"], default="none")
    arguments.add_argument("--list-filters", action="store_true", help="print the filters")
    arguments.add_argument(
        "--max-message-size", type=int, default=64 * 1024 * 1024, help="bytes, both ways"
    )
    arguments.add_argument("--server", default="localhost:50051", help="host:port")
    run(arguments.parse_args())


if __name__ == "__main__":
    main()
