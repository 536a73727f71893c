//! TLS on the server's port (rustls): a certificate chain and key, and optionally a CA
//! whose client certificates are required (mutual TLS).
//!
//! ALPN offers `h2` and `http/1.1`, so gRPC clients get HTTP/2 and browsers (grpc-web,
//! the REST gateway) either. TLS 1.2 and 1.3 with rustls's safe defaults and ring as the
//! crypto provider.

use std::{fmt, path::PathBuf, sync::Arc};

use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        RootCertStore, ServerConfig,
        crypto::ring::default_provider,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        server::WebPkiClientVerifier,
    },
};

/// The files of the server's TLS setup, all PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain, leaf first (`--tls-cert`).
    pub cert: PathBuf,
    /// The certificate's private key: PKCS#8, PKCS#1 or SEC1 (`--tls-key`).
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by one of these CAs
    /// (`--tls-client-ca`): mutual TLS.
    pub client_ca: Option<PathBuf>,
}

/// Why the TLS setup failed: the file and the reason.
#[derive(Debug)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn read_certs(path: &PathBuf, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path)
        .map_err(|err| TlsError(format!("cannot read the {what} {}: {err}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError(format!("{}: not a PEM {what}: {err}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "{}: no CERTIFICATE block found (expected a PEM {what})",
            path.display()
        )));
    }
    Ok(certs)
}

/// The acceptor for `files`.
///
/// # Errors
/// When a file cannot be read or parsed, the key does not match the certificate, or the
/// CA file holds no usable certificate; the message names the file.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(default_provider());
    let certs = read_certs(&files.cert, "certificate chain")?;
    let key_pem = std::fs::read(&files.key).map_err(|err| {
        TlsError(format!(
            "cannot read the private key {}: {err}",
            files.key.display()
        ))
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| {
        TlsError(format!(
            "{}: not a PEM private key: {err}",
            files.key.display()
        ))
    })?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError(format!("TLS setup: {err}")))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, "CA certificate")? {
                roots
                    .add(cert)
                    .map_err(|err| TlsError(format!("{}: {err}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|err| TlsError(format!("{}: {err}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|err| {
        TlsError(format!(
            "{} and {}: {err}",
            files.cert.display(),
            files.key.display()
        ))
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
