"""Lesson: server reflection. A server can describe itself: which services it hosts,
and every method's request and response types, as the descriptors compiled from its
.proto files (with their comments). grpcurl, Postman and evans work this way, with no
.proto file and no generated code for the services they call.

    cargo run --release                                       # the server
    .venv/bin/python examples/python/patterns/reflection.py   # this lesson
    .venv/bin/python examples/python/patterns/reflection.py --describe helloworld.Greeter

grpcio's ways: grpcio-reflection's ``ProtoReflectionDescriptorDatabase`` asks the
server's reflection service (v1alpha) for descriptors as protobuf needs them; a
``DescriptorPool`` over it and ``message_factory`` make message classes at run time, and
``channel.unary_unary(path, ...)`` calls a method by name. The call at the end uses no
generated code: its message classes are made from the server's descriptors, in a pool
of their own.
"""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from common import notice, parser, step

STYLES = {
    (False, False): "unary",
    (False, True): "server streaming",
    (True, False): "client streaming",
    (True, True): "bidirectional streaming",
}


def comment(file: descriptor_pb2.FileDescriptorProto, path: list[int]) -> str | None:
    """The comment of the element at `path` in `file` (source info keeps them by path)."""
    for location in file.source_code_info.location:
        if list(location.path) == path and location.leading_comments:
            return location.leading_comments.strip()
    return None


def run(server: str, describe: str) -> None:
    """Lists the services, describes one, and calls the echo service by name."""
    with grpc.insecure_channel(server) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)

        step("the services the server hosts")
        for service in database.get_services():
            print(f"   {service}")

        step(f"the file that defines {describe}")
        try:
            file = database.FindFileContainingSymbol(describe)
        except KeyError:
            raise SystemExit(f"the server does not know {describe}") from None
        for s, service in enumerate(file.service):
            if f"{file.package}.{service.name}" != describe:
                continue
            print(f"   {describe} (from {file.name})")
            for m, method in enumerate(service.method):
                style = STYLES[(method.client_streaming, method.server_streaming)]
                print(
                    f"   rpc {method.name}({method.input_type}) "
                    f"returns ({method.output_type}): {style}"
                )
                # Path: file.service (6) [s] .method (2) [m].
                text = comment(file, [6, s, 2, m])
                if text:
                    print(f"       // {text.splitlines()[0]}")
        notice("the types, the streaming styles and the comments all came from the running server")

        step("a call made from those descriptors alone")
        pool = descriptor_pool.DescriptorPool(database)  # fetches what it needs by reflection
        method = pool.FindMethodByName("grpc.examples.echo.Echo.UnaryEcho")
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        unary_echo = channel.unary_unary(
            f"/{method.containing_service.full_name}/{method.name}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        reply = unary_echo(request_class(message="found by reflection"), timeout=10)
        print(f'   {method.full_name}: "{reply.message}" came back')
        notice("as grpcurl does: descriptors from the server, messages built at run time")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--describe", default="grpc.examples.echo.Echo", help="the service to describe"
    )
    args = arguments.parse_args()
    run(args.server, args.describe)


if __name__ == "__main__":
    main()
