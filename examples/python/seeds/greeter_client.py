# Seed 004's greeter client, as the article prints it. It imports the code that
# grpc_tools.protoc generates from the article's helloworld.proto (proto/seeds/ here,
# with no package line), and calls /Greeter/SayHello on localhost:50051.
# See README.md beside this file for the two commands that generate the code and run it.
import grpc
import helloworld_pb2
import helloworld_pb2_grpc


def run():
    with grpc.insecure_channel('localhost:50051') as channel:
        stub = helloworld_pb2_grpc.GreeterStub(channel)
        response = stub.SayHello(helloworld_pb2.HelloRequest(name='World'))
    print("Greeter client received: " + response.message)


if __name__ == '__main__':
    run()
