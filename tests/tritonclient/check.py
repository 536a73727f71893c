"""NVIDIA's own Open Inference Protocol client against this server, unchanged.

tritonclient.grpc (PyPI `tritonclient[grpc]`) checks: live and ready, model readiness and
metadata, inference on iris and digits with its default raw tensors against the
committed onnxruntime references (to 1e-5), a requested output, a streaming inference
(Triton's ModelStreamInfer) with an error in-band, the repository index, the inference
statistics, and the error for an unknown model. Prints one line per check; exits 1 at
the first failure. Then tritonclient.http on the REST paths of the same port: health,
metadata, and inference with its default binary tensors and in JSON.

    python3 tests/tritonclient/check.py --url 127.0.0.1:50051 --models models
"""

import argparse
import json
import pathlib
import queue
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def check(what, condition, detail=""):
    if not condition:
        print(f"FAILED: {what} {detail}")
        sys.exit(1)
    print(f"ok: {what}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="HOST:PORT of the server")
    parser.add_argument("--models", required=True, help="the models directory")
    args = parser.parse_args()
    client = grpcclient.InferenceServerClient(url=args.url)

    check("the server is live", client.is_server_live())
    check("the server is ready", client.is_server_ready())
    check("iris is ready", client.is_model_ready("iris"))
    check("version 1 of iris is ready", client.is_model_ready("iris", "1"))
    metadata = client.get_model_metadata("iris", as_json=True)
    check(
        "iris's metadata names its tensors",
        metadata["inputs"][0]["name"] == "input"
        and metadata["inputs"][0]["datatype"] == "FP32"
        and metadata["inputs"][0]["shape"] == ["-1", "4"]
        and metadata["outputs"][0]["name"] == "probabilities",
        json.dumps(metadata),
    )
    server = client.get_server_metadata(as_json=True)
    check("the server's metadata has its name", server["name"] == "grpc-showcase", json.dumps(server))

    for model in ["iris", "digits"]:
        reference = json.loads((pathlib.Path(args.models) / model / "reference.json").read_text())
        rows = np.array(reference["inputs"], dtype=np.float32)
        expected = np.array(reference["outputs"], dtype=np.float64)
        output = client.get_model_metadata(model, as_json=True)["outputs"][0]["name"]
        tensor = grpcclient.InferInput("input", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        wanted = [grpcclient.InferRequestedOutput(output)]
        result = client.infer(model, [tensor], outputs=wanted, request_id="triton-1")
        got = result.as_numpy(output)
        check(
            f"{model}: {len(rows)} rows match the onnxruntime reference to 1e-5",
            got is not None and got.shape == expected.shape and np.max(np.abs(got - expected)) <= 1e-5,
            f"shape {None if got is None else got.shape}",
        )
        check(f"{model}: the request id comes back", result.get_response().id == "triton-1")

    # A stream: two good requests around a bad one; the answers come in order, the
    # bad one's error in-band.
    answers = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    rows = np.array(json.loads((pathlib.Path(args.models) / "iris" / "reference.json").read_text())["inputs"][:2], dtype=np.float32)
    for request_id, data in [("s1", rows[:1]), ("s2", rows[:1, :3]), ("s3", rows)]:
        streamed = grpcclient.InferInput("input", list(data.shape), "FP32")
        streamed.set_data_from_numpy(data)
        client.async_stream_infer("iris", [streamed], request_id=request_id)
    got = [answers.get(timeout=10) for _ in range(3)]
    client.stop_stream()
    check(
        "a stream answers in order, the bad request's error in-band",
        got[0][1] is None and got[0][0].get_response().id == "s1"
        and got[1][0] is None and "shape" in str(got[1][1])
        and got[2][1] is None and got[2][0].as_numpy("probabilities").shape == (2, 3),
        repr(got),
    )
    index = client.get_model_repository_index(as_json=True)
    check(
        "the repository index lists every model as READY",
        sorted((m["name"], m.get("state")) for m in index["models"])
        == [("diabetes", "READY"), ("digits", "READY"), ("fraud", "READY"), ("iris", "READY")],
        json.dumps(index),
    )
    stats = client.get_inference_statistics("iris", as_json=True)["model_stats"][0]
    check(
        "the statistics count iris's runs",
        int(stats["execution_count"]) == 3 and int(stats["inference_count"]) == 45 + 1 + 2
        and int(stats["inference_stats"]["fail"]["count"]) == 1,
        json.dumps(stats),
    )

    try:
        client.infer("tulip", [tensor])
        check("an unknown model is refused", False)
    except InferenceServerException as err:
        check("an unknown model is refused with NOT_FOUND", "NOT_FOUND" in str(err.status()), str(err))

    http = httpclient.InferenceServerClient(url=args.url)
    check("http: the server is live and ready", http.is_server_live() and http.is_server_ready())
    check("http: iris is ready", http.is_model_ready("iris"))
    check("http: iris's metadata", http.get_model_metadata("iris")["inputs"][0]["shape"] == [-1, 4])
    for model in ["iris", "digits"]:
        reference = json.loads((pathlib.Path(args.models) / model / "reference.json").read_text())
        rows = np.array(reference["inputs"], dtype=np.float32)
        expected = np.array(reference["outputs"], dtype=np.float64)
        output = http.get_model_metadata(model)["outputs"][0]["name"]
        for binary in [True, False]:
            tensor = httpclient.InferInput("input", list(rows.shape), "FP32")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            wanted = [httpclient.InferRequestedOutput(output, binary_data=binary)]
            got = http.infer(model, [tensor], outputs=wanted).as_numpy(output)
            check(
                f"http: {model} ({'binary' if binary else 'JSON'}) matches the reference to 1e-5",
                got is not None and got.shape == expected.shape and np.max(np.abs(got - expected)) <= 1e-5,
            )
    try:
        http.infer("tulip", [tensor])
        check("http: an unknown model is refused", False)
    except InferenceServerException as err:
        check("http: an unknown model is refused with 404", "404" in str(err.status()), str(err))


if __name__ == "__main__":
    main()
