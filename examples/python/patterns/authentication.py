"""Lesson: authentication. A client proves who it is with a bearer token in every
call's ``authorization`` metadata; the server answers UNAUTHENTICATED to a missing or
unknown token, and PERMISSION_DENIED to a known token that may not call that method.

    cargo run --release -- --auth-tokens examples/patterns/data/tokens.json   # the server
    .venv/bin/python examples/python/patterns/authentication.py               # this lesson

The tokens file gives ``lesson-admin`` every service and ``lesson-greeter`` only
``helloworld.Greeter/SayHello``. (They are in the repository: demo tokens, not secrets.)

grpcio's ways: call credentials, ``grpc.access_token_call_credentials(token)``, which
add ``authorization: Bearer <token>`` to each call, per call (``credentials=``) or for
a whole channel (``grpc.composite_channel_credentials``). grpcio sends call credentials
only over a secure channel: TLS (``grpc.ssl_channel_credentials``, see tls.py) or, to a
server on this machine, ``grpc.local_channel_credentials()``, which needs no
certificate because nothing leaves the machine. On a plain insecure channel, the
metadata itself works too: ``metadata=[("authorization", "Bearer <token>")]``.
"""

from __future__ import annotations

import grpc

from common import echo_pb2, echo_pb2_grpc, notice, parser, step
import helloworld_pb2  # generated beside echo_pb2 (common.py makes it)
import helloworld_pb2_grpc


def outcome(call, request, **options) -> str:
    """One call, as "OK" or its status code and message."""
    try:
        call(request, timeout=10, **options)
        return "OK"
    except grpc.RpcError as error:
        return f"{error.code().name}: {error.details()}"


def run(server: str, admin_token: str, greeter_token: str) -> None:
    """Calls with no token, a wrong token, a limited token and an admin token."""
    # A channel that may carry call credentials, to a server on this machine.
    local = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
    with grpc.secure_channel(server, local) as channel:
        greeter = helloworld_pb2_grpc.GreeterStub(channel)
        echo = echo_pb2_grpc.EchoStub(channel)
        hello = helloworld_pb2.HelloRequest(name="Ada")
        hi = echo_pb2.EchoRequest(message="hi")
        callers = [
            ("no token", None),
            ("a wrong token", "not-a-token-the-server-knows"),
            ("the greeter-only token", greeter_token),
            ("the admin token", admin_token),
        ]
        for who, token in callers:
            step(f"calls with {who}")
            options = {}
            if token is not None:
                options["credentials"] = grpc.access_token_call_credentials(token)
            print(f"   Greeter/SayHello: {outcome(greeter.SayHello, hello, **options)}")
            print(f"   Echo/UnaryEcho:   {outcome(echo.UnaryEcho, hi, **options)}")

    step("the admin token as plain metadata, on an insecure channel")
    with grpc.insecure_channel(server) as channel:
        echo = echo_pb2_grpc.EchoStub(channel)
        bearer = [("authorization", f"Bearer {admin_token}")]
        print(f"   Echo/UnaryEcho:   {outcome(echo.UnaryEcho, hi, metadata=bearer)}")
    notice("no token or an unknown one: UNAUTHENTICATED (who are you?); a known token without")
    notice("the permission: PERMISSION_DENIED (you may not). Health and reflection need no token.")
    notice("over a network, send tokens only over TLS: anyone on the path can read plain metadata")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--admin-token", default="lesson-admin-token-not-a-secret", help="may call everything"
    )
    arguments.add_argument(
        "--greeter-token",
        default="lesson-greeter-token-not-a-secret",
        help="may call Greeter/SayHello only",
    )
    args = arguments.parse_args()
    run(args.server, args.admin_token, args.greeter_token)


if __name__ == "__main__":
    main()
