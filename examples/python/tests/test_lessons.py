"""The lessons of the services (examples/python/*.py): each runs against a real server
as a learner runs it, and its output (or what it wrote) must show what it teaches."""

from __future__ import annotations

import re
import shutil
from fractions import Fraction

import av

from harness import FIXTURES, assert_all, line, run_lesson

ROCKET = FIXTURES / "rocket.mp4"


def test_greeter_shows_every_rpc_style(shared_server):
    out = run_lesson("greeter.py", "--server", shared_server.address)
    assert_all(
        out,
        [
            "SayHello      -> Hello, World!",
            "SayHelloAgain -> Hello again, World!",
            "Konnichiwa, World!",
            "INVALID_ARGUMENT: name must not be empty",
        ],
    )
    # The bidirectional replies came in the order the names went out.
    assert out.index("Hello, Ada!") < out.index("Hello, Grace!") < out.index("Hello, Barbara!"), out
    # 10 replies 200 ms apart cannot all come within a deadline of 500 ms.
    replies = int(line(out, "replies, then DEADLINE_EXCEEDED").split()[0])
    assert replies < 10, out


def test_greeter_compresses_when_asked(shared_server):
    out = run_lesson("greeter.py", "--server", shared_server.address, "--compression", "gzip")
    assert_all(out, ["(requests carry grpc-encoding 'gzip'", "Hello, Barbara!"])


def test_calculator_shows_every_rpc_style_and_the_field_at_fault(shared_server):
    out = run_lesson("calculator.py", "--server", shared_server.address)
    assert_all(
        out,
        [
            "SquareRoot(2)      = 1.4142135623730951",
            "Divide(7.5, 2.5)   = 3",
            'field "b": division by zero',
            'field "value":',
            "factor                 6857   (product so far 600851475143)",
            "count 8, mean 3.875, min 1, max 9",
            "sent      6   max so far      9",
        ],
    )
    # One maximum per number sent, interleaved.
    assert out.count("max so far") == 8, out


def test_model_inference_lists_describes_predicts_and_streams(shared_server):
    out = run_lesson("model_inference.py", "--server", shared_server.address)
    assert_all(
        out,
        [
            "iris       v1  ready",
            "fraud      v1  ready",
            'tensor "input": FP32 [-1, 4]',
            "column petal_length     cm",
            "most likely: setosa",
            "row 2: [0.0001, 0.0962, 0.9036]",
            "#1 error 3: inputs has 5 values",
            "#3 [0.0001, 0.0962, 0.9036]",
        ],
    )


def test_fraud_detection_scores_transactions(shared_server):
    out = run_lesson("fraud_detection.py", "--server", shared_server.address)
    assert_all(
        out,
        [
            "coffee on a long-standing account",
            "a burst of purchases on a week-old account",
            "negative amount -> INVALID_ARGUMENT",
        ],
    )
    assert line(out, "coffee").endswith("  ok"), out
    assert line(out, "a burst of purchases").endswith("  FRAUD"), out


def test_feedback_sends_watches_and_lists(start_server):
    server = start_server()  # a fresh database: the ids start at 1
    out = run_lesson("feedback.py", "--server", server.address, "send", "--count", "40")
    assert_all(
        out,
        [
            "#0 stored as feedback 1 [positive",
            "#2 stored as feedback 3 [negative",
            "Thank you for the kind words, alice!",
            "#39 stored as feedback 40",
        ],
    )
    watched = run_lesson(
        "feedback.py", "--server", server.address, "watch", "--replay-after", "0", "--limit", "6"
    )
    assert len(watched.splitlines()) == 6, watched
    assert "The delivery was fast" in watched, watched
    listed = run_lesson("feedback.py", "--server", server.address, "list", "--page-size", "4")
    assert listed.count("-- page") == 10, listed
    assert "Support never answered" in listed, listed


def rgb_frames(path) -> list[tuple[int, int, int, bytes]]:
    """Every frame of a video as (timestamp µs, width, height, RGB bytes)."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for picture in container.decode(stream):
            rgb = picture.to_rgb()
            plane, row = rgb.planes[0], rgb.width * 3
            data = bytes(plane)
            data = b"".join(
                data[y * plane.line_size : y * plane.line_size + row] for y in range(rgb.height)
            )
            timestamp = round(picture.pts * stream.time_base / Fraction(1, 1_000_000))
            frames.append((timestamp, rgb.width, rgb.height, data))
    return frames


def mean_difference(a: bytes, b: bytes, step: int = 7) -> float:
    """Mean absolute difference of two pixel buffers, in gray levels (every 7th byte)."""
    assert len(a) == len(b)
    pairs = list(zip(a[::step], b[::step], strict=True))
    return sum(abs(x - y) for x, y in pairs) / len(pairs)


def test_video_turns_an_mp4_into_a_processed_mp4(shared_server, tmp_path):
    output = tmp_path / "inverted.mp4"
    out = run_lesson(
        "video.py",
        str(ROCKET),
        "--filter",
        "invert",
        "-o",
        str(output),
        "--server",
        shared_server.address,
    )
    assert "75 frames in" in out, out
    assert "(320 x 240, 75 frames, 3.00 s)" in out, out
    before, after = rgb_frames(ROCKET), rgb_frames(output)
    assert len(before) == len(after) == 75
    for k, ((t0, _, _, rgb0), (t1, w, h, rgb1)) in enumerate(zip(before, after, strict=True)):
        assert (w, h) == (320, 240), k
        assert t1 == t0, f"frame {k}: shown at {t1} µs, not {t0}"
        inverted = bytes(255 - c for c in rgb0)
        # The inverse of the input, to within two rounds of lossy coding ...
        assert mean_difference(rgb1, inverted) < 6, f"frame {k}"
        # ... and far from the input itself: the filter ran.
        assert mean_difference(rgb1, rgb0) > 60, f"frame {k}"
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert float(stream.duration * stream.time_base) == 3.0


def gray_png(path) -> tuple[int, int, bytes]:
    with av.open(str(path)) as container:
        picture = next(container.decode(video=0)).reformat(format="gray")
    plane = picture.planes[0]
    data = bytes(plane)
    rows = [
        data[y * plane.line_size : y * plane.line_size + picture.width]
        for y in range(picture.height)
    ]
    return picture.width, picture.height, b"".join(rows)


def test_video_processes_a_folder_of_images(shared_server, tmp_path):
    frames_in, frames_out = tmp_path / "in", tmp_path / "out"
    frames_in.mkdir()
    for k in range(3):
        shutil.copy(FIXTURES / "rocket.jpg", frames_in / f"{k:03}.jpg")
    with av.open(str(FIXTURES / "rocket.jpg")) as container:
        size = next(container.decode(video=0)).width, container.streams.video[0].height
    out = run_lesson(
        "video.py",
        str(frames_in),
        "--filter",
        "edges",
        "-o",
        str(frames_out),
        "--server",
        shared_server.address,
    )
    assert "3 frames in" in out, out
    assert sorted(p.name for p in frames_out.iterdir()) == [f"frame-{k:05}.png" for k in range(3)]
    for k in range(3):
        width, height, gray = gray_png(frames_out / f"frame-{k:05}.png")
        assert (width, height) == size
        # Canny edges: white lines on black, a small part of the picture.
        white = sum(1 for v in gray if v > 128) / len(gray)
        assert 0.005 < white < 0.4, f"frame {k}: {white:.1%} white"
        assert all(v in (0, 255) for v in gray), f"frame {k} is not black and white"


def test_video_lists_filters(shared_server):
    out = run_lesson("video.py", "--list-filters", "--server", shared_server.address)
    assert re.search(r"^edges: Canny edges", out, re.M), out
    assert "frames up to" in out, out
