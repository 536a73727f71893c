# Seed 004's feedback client, as the article prints it: a bidirectional stream to
# /FeedbackService/SendFeedback (proto/seeds/feedback.proto, no package line). Each
# feedback is stored before the server answers it; feedback.FeedbackService's
# ListFeedback and WatchFeedback see what this client sent.
import grpc
import feedback_pb2
import feedback_pb2_grpc


def generate_feedback():
    feedbacks = [
        feedback_pb2.FeedbackRequest(consumer_id="consumer1", feedback="Great service, very fast!"),
        feedback_pb2.FeedbackRequest(consumer_id="consumer2", feedback="The app crashes too often."),
    ]
    for feedback in feedbacks:
        yield feedback


def run():
    with grpc.insecure_channel('localhost:50051') as channel:
        stub = feedback_pb2_grpc.FeedbackServiceStub(channel)
        responses = stub.SendFeedback(generate_feedback())
        for response in responses:
            print("Server Response: " + response.response_message)


if __name__ == '__main__':
    run()
