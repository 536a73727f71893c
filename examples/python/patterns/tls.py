"""Lesson: TLS and mutual TLS. TLS encrypts the connection and proves the server is who
it says (its certificate, signed by a CA the client trusts); mutual TLS also makes the
client prove who it is, with a certificate of its own.

    cargo run --release -- --tls-cert examples/patterns/data/server.pem \\
        --tls-key examples/patterns/data/server.key --tls-client-ca examples/patterns/data/ca.pem
    .venv/bin/python examples/python/patterns/tls.py

grpcio's ways: ``grpc.ssl_channel_credentials(root_certificates, private_key,
certificate_chain)`` and ``grpc.secure_channel(target, credentials)``. Without
``root_certificates`` grpcio trusts its own bundled roots (or those that
``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` names), not the lesson's CA. The demo certificates
in examples/patterns/data (made by make_certs.sh there) are a CA, a server certificate
for localhost and 127.0.0.1, and a client certificate.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from common import echo_pb2, echo_pb2_grpc, notice, parser, step

DATA = Path(__file__).resolve().parents[2] / "patterns" / "data"  # examples/patterns/data


def try_call(channel: grpc.Channel) -> str:
    """One echo call over `channel`, as "OK" or why it failed."""
    try:
        reply = echo_pb2_grpc.EchoStub(channel).UnaryEcho(
            echo_pb2.EchoRequest(message="secret"), timeout=10
        )
        return f'OK, "{reply.message}" came back'
    except grpc.RpcError as error:
        return f"{error.code().name}: {error.details()}"


def run(server: str, certs: Path) -> None:
    """Calls a mutual-TLS server with and without what it asks for."""
    ca = (certs / "ca.pem").read_bytes()
    client_cert = (certs / "client.pem").read_bytes()
    client_key = (certs / "client.key").read_bytes()

    step("plaintext, to a server that speaks TLS")
    with grpc.insecure_channel(server) as channel:
        print(f"   {try_call(channel)}")

    step("TLS, trusting only grpcio's bundled root CAs")
    with grpc.secure_channel(server, grpc.ssl_channel_credentials()) as channel:
        print(f"   {try_call(channel)}")
    notice("the server's certificate is signed by the lesson's CA, which no root store knows")

    step("TLS, trusting the lesson's CA, without a client certificate")
    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    with grpc.secure_channel(server, credentials) as channel:
        print(f"   {try_call(channel)}")
    notice("the server (--tls-client-ca) asks every client for a certificate: none, no call")

    step("mutual TLS: the lesson's CA, and the client's certificate")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=client_key, certificate_chain=client_cert
    )
    with grpc.secure_channel(server, credentials) as channel:
        print(f"   {try_call(channel)}")
    notice("both sides proved who they are; the call went through, encrypted")


def main() -> None:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument(
        "--certs", type=Path, default=DATA, help="the folder of ca.pem, client.pem and client.key"
    )
    args = arguments.parse_args()
    run(args.server, args.certs)


if __name__ == "__main__":
    main()
