"""A client of ``model.ModelInference``: discover the models, read a model's metadata,
predict one row and a batch, and stream many predictions over one call.

Start the server (``cargo run --release``), then in another terminal::

    .venv/bin/python examples/python/model_inference.py
    .venv/bin/python examples/python/model_inference.py --model digits
"""

from __future__ import annotations

import argparse

import grpc

import protos  # noqa: F401  (generates the code from proto/ on first use)
import model_pb2
import model_pb2_grpc


def example_rows(model: str, width: int) -> list[list[float]]:
    """Example rows for each shipped model, in its input's column order."""
    if model == "iris":
        # sepal length, sepal width, petal length, petal width (cm)
        return [[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.7, 3.0, 5.2, 2.3]]
    if model == "diabetes":
        # age, sex, bmi, bp, s1..s6 in their units (see GetModelMetadata)
        return [
            [59.0, 2.0, 32.1, 101.0, 157.0, 93.2, 38.0, 4.0, 4.8598, 87.0],
            [48.0, 1.0, 21.6, 87.0, 183.0, 103.2, 70.0, 3.0, 3.8918, 69.0],
        ]
    if model == "digits":
        # a hand-drawn "1": a vertical bar in the middle columns of the 8x8 image
        return [[16.0 if i % 8 in (3, 4) else 0.0 for i in range(64)]]
    return [[0.0] * width]  # any other model: a row of zeros


def rounded(values) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"


def run(server: str, model: str) -> None:
    """Lists the models, describes one, and runs it."""
    with grpc.insecure_channel(server) as channel:
        stub = model_pb2_grpc.ModelInferenceStub(channel)

        print("== ListModels (unary): what the server serves")
        for summary in stub.ListModels(model_pb2.ListModelsRequest()).models:
            state = "ready" if summary.ready else f"NOT READY: {summary.reason}"
            print(f"{summary.id:<10} v{summary.version}  {state:<6} {summary.description}")

        print(f'\n== GetModelMetadata (unary): the tensors of "{model}"')
        metadata = stub.GetModelMetadata(model_pb2.ModelMetadataRequest(model_id=model))
        for tensor in [*metadata.inputs, *metadata.outputs]:
            shape = list(tensor.shape)
            print(f'tensor "{tensor.name}": {tensor.datatype} {shape}  {tensor.description}')
        for feature in metadata.inputs[0].features[:10]:
            print(f"  column {feature.name:<16} {feature.unit:<12} {feature.description}")
        # A protobuf map reads as a dict.
        print(f"held-out metrics: {dict(sorted(metadata.metrics.items()))}")
        width = metadata.inputs[0].shape[1]
        labels = list(metadata.outputs[0].labels)

        print("\n== Predict (unary): one row")
        rows = example_rows(model, width)
        response = stub.Predict(model_pb2.PredictRequest(model_id=model, inputs=rows[0]))
        print(f"inputs  {rows[0]}")
        print(f"outputs {list(response.outputs)} (shape {list(response.output_shape)})")
        if labels:
            best = max(range(len(response.outputs)), key=lambda i: response.outputs[i])
            print(f"most likely: {labels[best]} ({response.outputs[best]:.4f})")

        print(f"\n== Predict (unary): a batch of {len(rows)} rows, flattened row by row")
        flat = [value for row in rows for value in row]
        response = stub.Predict(model_pb2.PredictRequest(model_id=model, inputs=flat))
        # The output is flattened too: split it by the output width.
        out_width = response.output_shape[1]
        outputs = list(response.outputs)
        for i in range(0, len(outputs), out_width):
            print(f"row {i // out_width}: {rounded(outputs[i : i + out_width])}")

        print("\n== PredictStream (bidirectional): many predictions over one call")
        # A bad request (one value too many) gets its error in its own response; the
        # stream goes on.
        requests = [model_pb2.PredictRequest(model_id=model, inputs=row) for row in rows]
        requests.insert(1, model_pb2.PredictRequest(model_id=model, inputs=[1.0] * (width + 1)))
        for response in stub.PredictStream(iter(requests)):
            # `result` is a oneof: WhichOneof says which of its fields is set.
            kind = response.WhichOneof("result")
            if kind == "response":
                print(f"#{response.index} {rounded(response.response.outputs)}")
            elif kind == "error":
                print(f"#{response.index} error {response.error.code}: {response.error.message}")
            else:
                print(f"#{response.index} empty")


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--server", default="localhost:50051", help="host:port")
    arguments.add_argument("--model", default="iris", help="the model to describe and run")
    args = arguments.parse_args()
    run(args.server, args.model)


if __name__ == "__main__":
    main()
