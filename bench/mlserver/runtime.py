"""An MLServer custom runtime that serves an ONNX file with onnxruntime: the reference of
bench/mlserver.sh, Seldon MLServer serving the same fraud and digits models as the
showcase, over the same Open Inference Protocol.

The model's settings give the ONNX file as `parameters.uri`. One input tensor (float32
rows), one output, "probabilities", as the showcase's model.json names them.
onnxruntime runs on one thread, as the benchmark pins each server to one core.
"""

import numpy as np
import onnxruntime
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxModel(MLModel):
    async def load(self) -> bool:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            self.settings.parameters.uri, options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        (probabilities,) = self._session.run(None, {self._input: rows})
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[NumpyCodec.encode_output("probabilities", probabilities.astype(np.float32))],
        )
