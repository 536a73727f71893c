//! TLS to PostgreSQL, with libpq's `sslmode` and `sslrootcert` URL parameters (rustls
//! with ring, through tokio-postgres-rustls 0.14).
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (the default) | when the server offers it | not checked |
//! | `require` | always | not checked |
//! | `verify-ca` | always | signed by a trusted CA |
//! | `verify-full` | always | signed by a trusted CA, and for the URL's host |
//!
//! As with libpq, `prefer` and `require` encrypt but do not authenticate the server
//! (they stop eavesdropping, not a man in the middle); use `verify-full` across networks
//! you do not control. The trusted CAs are those of `sslrootcert=PATH` (PEM) when given,
//! else the system's (rustls-native-certs). tokio-postgres 0.7 knows only the first three
//! modes: the two `verify-` modes reach it as `require`, with a verifying connector.

use std::sync::Arc;

use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, ring},
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};

/// A URL as tokio-postgres takes it, and the TLS connector its `sslmode` asks for.
pub(super) struct Tls {
    /// The URL without `sslrootcert`, with `verify-ca` and `verify-full` as `require`.
    pub(super) url: String,
    /// The connector for every connection.
    pub(super) connector: MakeRustlsConnect,
}

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// Reads `sslmode` and `sslrootcert` from `url`'s query string.
///
/// # Errors
/// A message for an unknown `sslmode`, or an `sslrootcert` file that cannot be read or
/// holds no certificate.
pub(super) fn prepare(url: &str) -> Result<Tls, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut check = Check::Nothing;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("sslrootcert", path)) => root_cert = Some(path.to_owned()),
            Some(("sslmode", mode)) => {
                let (kept_mode, mode_check) = match mode {
                    "disable" | "prefer" | "require" => (mode, Check::Nothing),
                    "verify-ca" => ("require", Check::Chain),
                    "verify-full" => ("require", Check::ChainAndName),
                    other => {
                        return Err(format!(
                            "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                        ));
                    }
                };
                check = mode_check;
                kept.push(format!("sslmode={kept_mode}"));
            }
            _ => kept.push(pair.to_owned()),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let provider = Arc::new(ring::default_provider());
    let chain = match check {
        Check::Nothing => None,
        Check::Chain | Check::ChainAndName => {
            let roots = Arc::new(roots(root_cert.as_deref())?);
            let verifier =
                WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                    .build()
                    .map_err(|err| err.to_string())?;
            Some(verifier)
        }
    };
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            chain,
            names: check == Check::ChainAndName,
            provider,
        }))
        .with_no_client_auth();
    Ok(Tls {
        url,
        connector: MakeRustlsConnect::new(config),
    })
}

/// The CAs of `path` (PEM), or the system's.
fn roots(path: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match path {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|err| format!("sslrootcert {path}: {err}"))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|err| format!("sslrootcert {path}: {err}"))?;
                roots
                    .add(cert)
                    .map_err(|err| format!("sslrootcert {path}: {err}"))?;
            }
            if roots.is_empty() {
                return Err(format!("sslrootcert {path}: no certificate in the file"));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err("no system CA certificates found; give sslrootcert=PATH".to_owned());
            }
        }
    }
    Ok(roots)
}

/// The check of the database's certificate that `sslmode` asks for. The handshake's
/// signatures are always checked, so the connection is encrypted to whoever holds the
/// certificate's key.
#[derive(Debug)]
struct Verifier {
    /// The chain's check (`verify-ca`, `verify-full`); `None` checks nothing (`prefer`,
    /// `require`).
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// Whether the certificate must name the host (`verify-full`). rustls 0.23's
    /// verifier checks the name last, after the chain, so a name error means the chain
    /// was good.
    names: bool,
    /// The signature algorithms.
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_reach_the_driver_as_require_without_sslrootcert() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["ca".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(&ca, cert.pem()).unwrap();
        let url = format!(
            "postgres://app@db/f?sslmode=verify-full&sslrootcert={}&connect_timeout=3",
            ca.display()
        );
        assert_eq!(
            prepare(&url).unwrap().url,
            "postgres://app@db/f?sslmode=require&connect_timeout=3"
        );
        assert_eq!(prepare("postgres://db/f").unwrap().url, "postgres://db/f");
        assert_eq!(
            prepare("postgres://db/f?sslmode=disable").unwrap().url,
            "postgres://db/f?sslmode=disable"
        );
        let err = prepare("postgres://db/f?sslmode=allow").err().unwrap();
        assert!(err.contains("verify-full"), "{err}");
        let err = prepare("postgres://db/f?sslmode=verify-ca&sslrootcert=/nonexistent")
            .err()
            .unwrap();
        assert!(err.contains("/nonexistent"), "{err}");
    }
}
