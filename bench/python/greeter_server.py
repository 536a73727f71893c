"""helloworld.Greeter in Python with grpcio: the reference of bench/run.py.

The server of gRPC's Python quickstart (grpc/examples/python/helloworld/greeter_server.py):
a synchronous grpc.server on a thread pool of 10 workers, answering "Hello, <name>!" (the
showcase's text, so both send the same bytes). SayHelloBidiStream answers each name in order.

    python greeter_server.py --port 50073 --stubs DIR   # DIR: grpc_tools.protoc output
"""

import argparse
import sys
from concurrent import futures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stubs", required=True, help="directory of the generated helloworld_pb2*.py")
    parser.add_argument("--workers", type=int, default=10, help="thread pool size (the quickstart's 10)")
    args = parser.parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    import helloworld_pb2
    import helloworld_pb2_grpc

    class Greeter(helloworld_pb2_grpc.GreeterServicer):
        def SayHello(self, request, context):
            return helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")

        def SayHelloAgain(self, request, context):
            return helloworld_pb2.HelloReply(message=f"Hello again, {request.name}!")

        def SayHelloBidiStream(self, request_iterator, context):
            for request in request_iterator:
                yield helloworld_pb2.HelloReply(message=f"Hello, {request.name}!")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    helloworld_pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"listening on 127.0.0.1:{args.port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
