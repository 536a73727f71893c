//! Bearer tokens and their permissions: who may call what.
//!
//! The tokens file (given with `--auth-tokens`) is JSON: a list of tokens, each with a
//! name (for logs and metrics: the token itself is never logged), the secret a client
//! sends as `authorization: Bearer <token>`, and what it may call:
//!
//! ```json
//! [
//!   {"name": "web-gateway", "token": "6f1c...e9", "allow": ["fraud_detection.FraudDetectionService"]},
//!   {"name": "greeter-only", "token": "a8b2...07", "allow": ["helloworld.Greeter/SayHello"]},
//!   {"name": "admin", "token": "51d0...3c", "allow": ["*"]}
//! ]
//! ```
//!
//! An `allow` entry is a whole service (`package.Service`), one method
//! (`package.Service/Method`) or `*` (everything). Tokens must be 16 to 4096 printable
//! ASCII characters without spaces (RFC 6750's `b64token` characters and more), and
//! unique; names unique. Generate one with `openssl rand -hex 32`.
//!
//! Tokens are kept as SHA-256 digests and a presented token is compared with every one
//! of them in constant time ([`subtle`]), so neither the comparison's timing nor which
//! token matched tells an attacker how much of a guess was right. This module knows
//! nothing of gRPC: [`crate::server`] maps [`AuthError`] to status codes.

use std::{collections::HashSet, fmt, path::Path};

use ring::digest::{SHA256, digest};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// Services that stay open when auth is on: health checks (load balancers and
/// orchestrators probe them without credentials) and reflection (it describes the API,
/// it does not call it).
pub const OPEN_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The shortest and longest accepted tokens, in bytes.
const TOKEN_LENGTH: std::ops::RangeInclusive<usize> = 16..=4096;

/// The tokens the server accepts, with their permissions.
pub struct Tokens {
    entries: Vec<Entry>,
}

struct Entry {
    name: String,
    digest: [u8; 32],
    allow: Vec<Permission>,
}

/// One `allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Permission {
    Everything,
    Service(String),
    Method(String),
    /// `GET /metrics` (the allow entry `"metrics"`).
    Metrics,
}

/// What [`Tokens::authorize`] takes as the "method" of a `GET /metrics` scrape: a token
/// whose `allow` lists `"metrics"` (or `"*"`) may read the metrics.
pub const METRICS: &str = "metrics";

impl fmt::Debug for Tokens {
    /// Names only: never the digests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|entry| &entry.name))
            .finish()
    }
}

/// What the file holds, before checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    name: String,
    token: String,
    allow: Vec<String>,
}

/// Why a tokens file was refused.
#[derive(Debug)]
pub struct TokensError(String);

impl fmt::Display for TokensError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokensError {}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `authorization` header, or not of the form `Bearer <token>`.
    Missing,
    /// A bearer token the server does not know.
    Unknown,
    /// A known token without permission for the method.
    Denied {
        /// The token's name.
        name: String,
        /// The method's full name, `package.Service/Method`.
        method: String,
    },
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => f.write_str(
                "this server requires a bearer token: send the header \
                 'authorization: Bearer <token>'",
            ),
            AuthError::Unknown => f.write_str("the bearer token is not valid"),
            AuthError::Denied { name, method } => {
                write!(f, "the token {name:?} is not allowed to call {method}")
            }
        }
    }
}

impl std::error::Error for AuthError {}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    digest(&SHA256, bytes)
        .as_ref()
        .try_into()
        .expect("SHA-256 digests are 32 bytes")
}

impl Tokens {
    /// Reads a tokens file (see the module docs).
    ///
    /// # Errors
    /// When the file cannot be read, is not the documented JSON, or a token or name is
    /// invalid or repeated. The message names the entry, never its token.
    pub fn load(path: &Path) -> Result<Self, TokensError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| TokensError(format!("cannot read {}: {err}", path.display())))?;
        Self::parse(&text)
            .map_err(|TokensError(err)| TokensError(format!("{}: {err}", path.display())))
    }

    /// Parses the JSON of a tokens file.
    ///
    /// # Errors
    /// As [`Tokens::load`].
    pub fn parse(json: &str) -> Result<Self, TokensError> {
        // Only the position of a JSON error: serde_json's messages can quote a value
        // ("invalid type: string ..."), and that value could be a token.
        let file: Vec<FileEntry> = serde_json::from_str(json).map_err(|err| {
            TokensError(format!(
                "expected a JSON list of {{\"name\", \"token\", \"allow\"}} objects, \
                 each with exactly these fields (error at line {}, column {})",
                err.line(),
                err.column()
            ))
        })?;
        if file.is_empty() {
            return Err(TokensError("no tokens: the list is empty".into()));
        }
        let mut names = HashSet::new();
        let mut digests = HashSet::new();
        let mut entries = Vec::with_capacity(file.len());
        for (index, entry) in file.into_iter().enumerate() {
            let which = format!("entry {index} ({:?})", entry.name);
            if entry.name.is_empty() {
                return Err(TokensError(format!("entry {index}: the name is empty")));
            }
            if !TOKEN_LENGTH.contains(&entry.token.len()) {
                return Err(TokensError(format!(
                    "{which}: a token must be {} to {} characters long",
                    TOKEN_LENGTH.start(),
                    TOKEN_LENGTH.end()
                )));
            }
            if !entry.token.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(TokensError(format!(
                    "{which}: a token must be printable ASCII without spaces"
                )));
            }
            if !names.insert(entry.name.clone()) {
                return Err(TokensError(format!("{which}: the name is used twice")));
            }
            let digest = sha256(entry.token.as_bytes());
            if !digests.insert(digest) {
                return Err(TokensError(format!(
                    "{which}: the same token is given twice"
                )));
            }
            if entry.allow.is_empty() {
                return Err(TokensError(format!(
                    "{which}: \"allow\" is empty, so the token could call nothing"
                )));
            }
            let allow = entry
                .allow
                .iter()
                .map(|allow| {
                    parse_permission(allow).map_err(|err| TokensError(format!("{which}: {err}")))
                })
                .collect::<Result<_, _>>()?;
            entries.push(Entry {
                name: entry.name,
                digest,
                allow,
            });
        }
        Ok(Self { entries })
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no tokens (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks the `authorization` header value of a call to `method`
    /// (`package.Service/Method`) and returns the token's name.
    ///
    /// # Errors
    /// [`AuthError::Missing`] without a `Bearer` value, [`AuthError::Unknown`] for a
    /// token not in the file, [`AuthError::Denied`] for a token not allowed `method`.
    pub fn authorize(&self, authorization: Option<&[u8]>, method: &str) -> Result<&str, AuthError> {
        let token = authorization
            .and_then(bearer_token)
            .ok_or(AuthError::Missing)?;
        let presented = sha256(token);
        // Compare with every entry, without stopping at a match.
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.digest.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        let entry = found.ok_or(AuthError::Unknown)?;
        if entry
            .allow
            .iter()
            .any(|permission| permission.allows(method))
        {
            Ok(&entry.name)
        } else {
            Err(AuthError::Denied {
                name: entry.name.clone(),
                method: method.to_owned(),
            })
        }
    }
}

/// The token of an `authorization: Bearer <token>` value (the scheme is
/// case-insensitive, RFC 7235 section 2.1).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

fn parse_permission(allow: &str) -> Result<Permission, String> {
    let valid_name = |name: &str| {
        !name.is_empty()
            && name.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    };
    match allow.split_once('/') {
        _ if allow == "*" => Ok(Permission::Everything),
        _ if allow == METRICS => Ok(Permission::Metrics),
        None if valid_name(allow) => Ok(Permission::Service(allow.to_owned())),
        Some((service, method))
            if valid_name(service) && valid_name(method) && !method.contains('.') =>
        {
            Ok(Permission::Method(allow.to_owned()))
        }
        _ => Err(format!(
            "{allow:?} is not \"*\", \"metrics\", a service (package.Service) or a method \
             (package.Service/Method)"
        )),
    }
}

impl Permission {
    fn allows(&self, method: &str) -> bool {
        match self {
            Permission::Everything => true,
            Permission::Service(service) => method
                .strip_prefix(service.as_str())
                .is_some_and(|rest| rest.starts_with('/')),
            Permission::Method(allowed) => allowed == method,
            Permission::Metrics => method == METRICS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"[
        {"name": "web", "token": "web-token-0123456789", "allow": ["fraud_detection.FraudDetectionService"]},
        {"name": "hello", "token": "hello-token-0123456789", "allow": ["helloworld.Greeter/SayHello"]},
        {"name": "admin", "token": "admin-token-0123456789", "allow": ["*"]}
    ]"#;

    #[test]
    fn a_token_may_call_what_it_allows() {
        let tokens = Tokens::parse(FILE).unwrap();
        let fraud = "fraud_detection.FraudDetectionService/PredictFraud";
        assert_eq!(
            tokens.authorize(Some(b"Bearer web-token-0123456789"), fraud),
            Ok("web")
        );
        assert_eq!(
            tokens.authorize(Some(b"bearer  admin-token-0123456789 "), fraud),
            Ok("admin")
        );
        assert_eq!(
            tokens.authorize(
                Some(b"Bearer hello-token-0123456789"),
                "helloworld.Greeter/SayHello"
            ),
            Ok("hello")
        );
        assert_eq!(
            tokens.authorize(
                Some(b"Bearer hello-token-0123456789"),
                "helloworld.Greeter/SayHelloAgain"
            ),
            Err(AuthError::Denied {
                name: "hello".into(),
                method: "helloworld.Greeter/SayHelloAgain".into()
            })
        );
        // A service permission is not a prefix match on the name.
        assert!(matches!(
            tokens.authorize(
                Some(b"Bearer web-token-0123456789"),
                "fraud_detection.FraudDetectionServiceX/PredictFraud"
            ),
            Err(AuthError::Denied { .. })
        ));
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_refused() {
        let tokens = Tokens::parse(FILE).unwrap();
        let method = "helloworld.Greeter/SayHello";
        assert_eq!(tokens.authorize(None, method), Err(AuthError::Missing));
        assert_eq!(
            tokens.authorize(Some(b"Bearer "), method),
            Err(AuthError::Missing)
        );
        assert_eq!(
            tokens.authorize(Some(b"Basic YWxhZGRpbjpvcGVuc2VzYW1l"), method),
            Err(AuthError::Missing)
        );
        assert_eq!(
            tokens.authorize(Some(b"Bearer web-token-012345678"), method),
            Err(AuthError::Unknown)
        );
    }

    #[test]
    fn invalid_files_are_refused_without_echoing_tokens() {
        let cases = [
            ("[]", "empty"),
            ("{}", "expected a JSON list"),
            (
                r#"[{"name": "a", "token": "short", "allow": ["*"]}]"#,
                "16 to 4096",
            ),
            (
                r#"[{"name": "a", "token": "has a space in it!!", "allow": ["*"]}]"#,
                "printable",
            ),
            (
                r#"[{"name": "a", "token": "secret-secret-secret", "allow": []}]"#,
                "empty",
            ),
            (
                r#"[{"name": "a", "token": "secret-secret-secret", "allow": ["helloworld.Greeter/"]}]"#,
                "is not",
            ),
            (
                r#"[{"name": "a", "token": "secret-secret-secret", "allow": ["*"]},
                    {"name": "b", "token": "secret-secret-secret", "allow": ["*"]}]"#,
                "twice",
            ),
            (
                r#"[{"name": "a", "token": "secret-secret-secret", "allow": ["*"], "admin": true}]"#,
                "exactly these fields",
            ),
            (
                r#"[{"name": "a", "token": "secret-secret-secret", "allow": "secret-secret"}]"#,
                "line 1",
            ),
        ];
        for (json, expected) in cases {
            let err = Tokens::parse(json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
            assert!(!err.contains("secret"), "{json}: {err}");
        }
        assert_eq!(
            format!("{:?}", Tokens::parse(FILE).unwrap()),
            r#"["web", "hello", "admin"]"#
        );
    }
}
