"""video.VideoProcessing in Python with grpcio and OpenCV: the reference of bench/video.py.

The seed's stack, and what a user would pick instead of ours: a synchronous grpc.server
(thread pool of 10 workers, as gRPC's Python quickstart) whose ProcessFrames takes the
config first, then answers every frame in order, doing the same work as the showcase:

- decode: JPEG or PNG with cv2.imdecode; raw RGB8 or GRAY8 as a numpy view of the bytes;
- grayscale: cv2.cvtColor (OpenCV's weights are BT.601, ours BT.709: the agreement
  figures of bench/video.py show the difference);
- gaussian_blur: cv2.GaussianBlur with the same sigma and kernel (2 ceil(2 sigma) + 1
  wide, as the showcase's), edge pixels repeated at the borders;
- edges: that blur with sigma 1.4, then cv2.Canny with the same thresholds and the L2
  gradient magnitude, as the showcase's Canny;
- sobel: cv2.Sobel in x and y (3 x 3, 16-bit), cv2.magnitude, clamped to 255;
- resize: cv2.resize, bilinear (INTER_LINEAR);
- invert: cv2.bitwise_not;
- encode: the input's encoding, as the showcase answers when the config asks for none:
  JPEG at quality 85 (the showcase's default), raw GRAY8 for gray results and RGB8 else.

    python video_server.py --port 50075 --stubs DIR
"""

import argparse
import math
import sys
import time
from concurrent import futures

JPEG, PNG, GRAY8, RGB8 = 1, 2, 3, 4
GRAY_FILTERS = {"grayscale", "edges", "sobel"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stubs", required=True, help="directory of the generated video_pb2*.py")
    parser.add_argument("--workers", type=int, default=10, help="thread pool size (the quickstart's 10)")
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    import cv2
    import grpc
    import numpy as np
    import video_pb2
    import video_pb2_grpc

    # One thread for OpenCV's own parallelism: the comparison is per core, and the server
    # is pinned to one.
    cv2.setNumThreads(1)

    def blur(picture, sigma):
        size = 2 * math.ceil(2 * sigma) + 1
        return cv2.GaussianBlur(picture, (size, size), sigma, borderType=cv2.BORDER_REPLICATE)

    def gray(picture, bgr):
        if picture.ndim == 2:
            return picture
        return cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY)

    def apply(name, params, picture, bgr):
        if name == "grayscale":
            return gray(picture, bgr)
        if name == "gaussian_blur":
            return blur(picture, params.get("sigma", 2.0))
        if name == "edges":
            smooth = blur(gray(picture, bgr), 1.4)
            return cv2.Canny(smooth, params.get("low", 50.0), params.get("high", 100.0), L2gradient=True)
        if name == "sobel":
            g = gray(picture, bgr)
            gx = cv2.Sobel(g, cv2.CV_16S, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
            gy = cv2.Sobel(g, cv2.CV_16S, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
            magnitude = cv2.magnitude(gx.astype(np.float32), gy.astype(np.float32))
            return np.minimum(magnitude, 255).astype(np.uint8)
        if name == "resize":
            size = (int(params.get("width", 320)), int(params.get("height", 240)))
            return cv2.resize(picture, size, interpolation=cv2.INTER_LINEAR)
        if name == "invert":
            return cv2.bitwise_not(picture)
        raise ValueError(f"unknown filter {name!r}")

    def decode(frame):
        """The picture, and whether its channels are BGR (OpenCV's codecs) or RGB (raw)."""
        if frame.encoding in (JPEG, PNG):
            picture = cv2.imdecode(np.frombuffer(frame.data, np.uint8), cv2.IMREAD_UNCHANGED)
            if picture is None:
                raise ValueError("undecodable frame")
            return picture, True
        channels = 1 if frame.encoding == GRAY8 else 3
        shape = (frame.height, frame.width) if channels == 1 else (frame.height, frame.width, 3)
        return np.frombuffer(frame.data, np.uint8).reshape(shape), False

    def encode(picture, encoding, quality):
        if encoding == JPEG:
            ok, data = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
            return JPEG, data.tobytes()
        if encoding == PNG:
            ok, data = cv2.imencode(".png", picture)
            return PNG, data.tobytes()
        return (GRAY8 if picture.ndim == 2 else RGB8), picture.tobytes()

    class VideoProcessing(video_pb2_grpc.VideoProcessingServicer):
        def ProcessFrames(self, request_iterator, context):
            config = None
            for request in request_iterator:
                if request.HasField("config"):
                    config = request.config
                    continue
                if config is None:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a frame before the config")
                started = time.perf_counter()
                frame = request.frame
                picture, bgr = decode(frame)
                result = apply(config.filter, dict(config.params), picture, bgr)
                encoding = config.output_encoding or frame.encoding
                if encoding in (GRAY8, RGB8) and not bgr:
                    encoding = GRAY8 if result.ndim == 2 else RGB8
                encoding, data = encode(result, encoding, config.jpeg_quality or 85)
                height, width = result.shape[:2]
                yield video_pb2.ProcessFramesResponse(
                    frame=video_pb2.Frame(
                        sequence_number=frame.sequence_number,
                        presentation_timestamp_us=frame.presentation_timestamp_us,
                        width=width, height=height, encoding=encoding, data=data,
                    ),
                    processing_time_us=int((time.perf_counter() - started) * 1e6),
                )

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=args.workers),
        options=[("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)],
    )
    video_pb2_grpc.add_VideoProcessingServicer_to_server(VideoProcessing(), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"OpenCV {cv2.__version__} video reference on 127.0.0.1:{args.port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
