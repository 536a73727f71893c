"""fraud_detection.FraudDetectionService in Python with grpcio: the reference of bench/run.py.

The seed's stack: a synchronous grpc.server (thread pool of 10 workers, as gRPC's Python
quickstart) that extracts the five features as training/train_fraud.py does and runs the same
models/fraud/model.onnx with onnxruntime, then compares the fraud probability with the
threshold in models/fraud/model.json. It checks the same fields as the showcase (a negative
or non-finite amount, a negative age or count is INVALID_ARGUMENT).

onnxruntime runs with one intra-op thread: the model is a small MLP, and the default (one
thread per core, spinning while idle) only takes CPU from the server's own threads here.

    python fraud_server.py --port 50074 --stubs DIR --model-dir models/fraud
"""

import argparse
import json
import math
import pathlib
import sys
from concurrent import futures

SECONDS_PER_DAY = 86_400


def features(amount, time, age_of_account, number_of_transactions):
    """The model's input row, as training/train_fraud.py's extract_features computes it."""
    hour = (time % SECONDS_PER_DAY) / 3600.0  # Python's % on ints is floored, as np.mod
    angle = 2.0 * math.pi * hour / 24.0
    return [
        math.log1p(amount),
        math.sin(angle),
        math.cos(angle),
        math.log1p(age_of_account),
        math.log1p(number_of_transactions),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stubs", required=True, help="directory of the generated fraud_detection_pb2*.py")
    parser.add_argument("--model-dir", required=True, help="a directory with model.onnx and model.json")
    parser.add_argument("--workers", type=int, default=10, help="thread pool size (the quickstart's 10)")
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    import numpy as np
    import onnxruntime
    import fraud_detection_pb2
    import fraud_detection_pb2_grpc

    model_dir = pathlib.Path(args.model_dir)
    card = json.loads((model_dir / "model.json").read_text())
    threshold = float(card["threshold"])
    version = card["version"]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(model_dir / card["file"]), options, providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name

    class FraudDetection(fraud_detection_pb2_grpc.FraudDetectionServiceServicer):
        def PredictFraud(self, request, context):
            if not math.isfinite(request.amount) or request.amount < 0:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "amount must be a finite number, 0 or more")
            if request.age_of_account < 0 or request.number_of_transactions < 0:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "counts must be 0 or more")
            row = features(request.amount, request.time, request.age_of_account, request.number_of_transactions)
            probabilities = session.run(None, {input_name: np.asarray([row], dtype=np.float32)})[0]
            probability = min(max(float(probabilities[0, 1]), 0.0), 1.0)
            return fraud_detection_pb2.PredictionResponse(
                transaction_id=request.transaction_id,
                predicted_label=probability >= threshold,
                fraud_probability=probability,
                threshold=threshold,
                model_version=version,
            )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    fraud_detection_pb2_grpc.add_FraudDetectionServiceServicer_to_server(FraudDetection(), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
