# Seed 001's model client, as the article prints it, on proto/model.proto.
#
# The article serves a model it calls "example_model"; this server has no model of that
# name, so this call fails with NOT_FOUND, and the status message lists the models it
# does serve: diabetes, digits, fraud, iris. To call one, change the request to, for
# example, the iris model with one flower's four measurements in cm (sepal length, sepal
# width, petal length, petal width):
#
#     request = model_pb2.PredictRequest(model_id="iris", inputs=[5.1, 3.5, 1.4, 0.2])
#
# which prints the three class probabilities (setosa, versicolor, virginica).
import grpc
import model_pb2
import model_pb2_grpc


def run():
    channel = grpc.insecure_channel('localhost:50051')
    stub = model_pb2_grpc.ModelInferenceStub(channel)
    request = model_pb2.PredictRequest(model_id="example_model", inputs=[1.0, 2.0, 3.0, 4.0])
    response = stub.Predict(request)
    print("Prediction:", response.outputs)


if __name__ == '__main__':
    run()
