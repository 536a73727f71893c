//! TLS and mutual TLS, with certificates made here (rcgen): a test CA, a server
//! certificate for localhost, and client certificates from that CA and from another.

mod common;

use common::{
    TestServer,
    certs::{TestCa, write},
};
use grpc_showcase::{
    proto::helloworld::{HelloRequest, greeter_client::GreeterClient},
    server::{Settings, TlsFiles},
};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A TLS server signed by `ca`, requiring client certificates from `client_ca` if given.
async fn tls_server(
    ca: &TestCa,
    client_ca: Option<&TestCa>,
    dir: &tempfile::TempDir,
) -> TestServer {
    let (cert, key) = ca.issue("localhost");
    let tls = TlsFiles {
        cert: write(dir, "server.pem", &cert),
        key: write(dir, "server.key", &key),
        client_ca: client_ca.map(|ca| write(dir, "client-ca.pem", &ca.pem())),
    };
    TestServer::with_settings(Settings {
        tls: Some(tls),
        ..Settings::default()
    })
    .await
}

/// SayHello over TLS, trusting `ca`, presenting `identity` (cert, key PEM) if given.
async fn say_hello(
    server: &TestServer,
    ca: &TestCa,
    identity: Option<(String, String)>,
) -> Result<String, String> {
    let mut tls = ClientTlsConfig::new()
        .domain_name("localhost")
        .ca_certificate(Certificate::from_pem(ca.pem()));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Endpoint::from_shared(format!("https://{}", server.addr))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|err| format!("connect: {err:?}"))?;
    GreeterClient::new(channel)
        .say_hello(HelloRequest { name: "TLS".into() })
        .await
        .map(|reply| reply.into_inner().message)
        .map_err(|status| format!("call: {status:?}"))
}

#[tokio::test]
async fn serves_grpc_over_tls_and_refuses_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("grpc-showcase test CA");
    let server = tls_server(&ca, None, &dir).await;
    let reply = say_hello(&server, &ca, None).await.unwrap();
    assert!(reply.contains("TLS"), "{reply}");

    // A plaintext client gets no gRPC answer from a TLS port.
    let plaintext = GreeterClient::new(server.channel().await)
        .say_hello(HelloRequest { name: "x".into() })
        .await;
    assert!(plaintext.is_err(), "{plaintext:?}");

    // A client that trusts another CA refuses the server's certificate.
    let other = TestCa::new("another CA");
    assert!(say_hello(&server, &other, None).await.is_err());
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("grpc-showcase test CA");
    let clients = TestCa::new("client CA");
    let server = tls_server(&ca, Some(&clients), &dir).await;

    let reply = say_hello(&server, &ca, Some(clients.issue("web-frontend"))).await;
    assert!(reply.unwrap().contains("TLS"));

    let without = say_hello(&server, &ca, None).await;
    assert!(
        without.is_err(),
        "a client without a certificate: {without:?}"
    );

    let stranger = TestCa::new("stranger CA");
    let wrong = say_hello(&server, &ca, Some(stranger.issue("intruder"))).await;
    assert!(wrong.is_err(), "a certificate from another CA: {wrong:?}");
}

#[tokio::test]
async fn unusable_tls_files_are_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("grpc-showcase test CA");
    let (cert, _) = ca.issue("localhost");
    let (_, other_key) = ca.issue("localhost");
    let cases = [
        (
            write(&dir, "a.pem", &cert),
            dir.path().join("missing.key"),
            "missing.key",
        ),
        (
            write(&dir, "b.pem", "not a certificate"),
            write(&dir, "b.key", &other_key),
            "b.pem",
        ),
        (
            write(&dir, "c.pem", &cert),
            write(&dir, "c.key", &other_key),
            "c.pem",
        ),
    ];
    for (cert, key, named) in cases {
        let settings = Settings {
            tls: Some(TlsFiles {
                cert,
                key,
                client_ca: None,
            }),
            ..Settings::default()
        };
        let err = grpc_showcase::server::Server::bind("127.0.0.1:0".parse().unwrap(), settings)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(named), "{err}");
    }
}
