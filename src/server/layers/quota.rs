//! A limit on the calls one caller may have in progress (`--max-calls-per-caller`), so
//! that one caller cannot take every slot of `--max-concurrent-requests` and lock the
//! others out.
//!
//! The caller is the token's name when auth is on ([`super::auth`] puts it in the
//! request's extensions as a [`Caller`]), or else the peer's IP address (every port of
//! one host is one caller; every client of a Unix socket is one caller). A call over
//! the quota is answered at once with RESOURCE_EXHAUSTED, the status code table's code
//! for "a per-user quota", naming the caller and the flag. A call counts until its
//! response ends, like its global slot. Health checks are never counted. The caller's
//! name goes on in the request's extensions as a [`CallerName`], for the services that
//! keep per-caller budgets (the video service's memory).

use std::{
    collections::HashMap,
    fmt,
    net::IpAddr,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use http::{Request, Response};
use tonic::{Status, body::Body, transport::server::TcpConnectInfo};
use tower::{Layer, Service};

use super::guard::{CallFuture, CallGuard};
use crate::domain::budget::CallerName;

/// The path prefix of the calls never counted.
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// The name of the token a call was authorized with, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller(pub Arc<str>);

/// Who a quota counts for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CallerKey {
    /// An authorized token, by name.
    Token(Arc<str>),
    /// A peer without a token, by IP address.
    Peer(IpAddr),
    /// A client of a Unix socket, or a call with no peer address.
    Local,
}

impl CallerKey {
    fn of(extensions: &http::Extensions) -> Self {
        if let Some(Caller(name)) = extensions.get::<Caller>() {
            return Self::Token(Arc::clone(name));
        }
        match extensions
            .get::<TcpConnectInfo>()
            .and_then(|info| info.remote_addr)
        {
            Some(addr) => Self::Peer(addr.ip()),
            None => Self::Local,
        }
    }
}

impl fmt::Display for CallerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(name) => write!(f, "token {name:?}"),
            Self::Peer(ip) => write!(f, "peer {ip}"),
            Self::Local => f.write_str("the local peer"),
        }
    }
}

/// The calls in progress of each caller with at least one.
type Counts = Arc<Mutex<HashMap<CallerKey, usize>>>;

/// A [`Layer`] that limits the calls in progress of each caller.
#[derive(Debug, Clone)]
pub struct QuotaLayer {
    counts: Counts,
    max: usize,
}

impl QuotaLayer {
    /// At most `max` calls in progress per caller.
    pub fn new(max: usize) -> Self {
        Self {
            counts: Counts::default(),
            max,
        }
    }
}

impl<S> Layer<S> for QuotaLayer {
    type Service = Quota<S>;

    fn layer(&self, inner: S) -> Quota<S> {
        Quota {
            inner,
            counts: Arc::clone(&self.counts),
            max: self.max,
        }
    }
}

/// See [`QuotaLayer`].
#[derive(Debug, Clone)]
pub struct Quota<S> {
    inner: S,
    counts: Counts,
    max: usize,
}

/// One call counted for its caller until the call ends.
#[derive(Debug)]
pub struct Counted {
    counts: Counts,
    key: CallerKey,
}

impl CallGuard for Counted {}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl<S, B> Service<Request<B>> for Quota<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = CallFuture<S::Future, Counted>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if request.uri().path().starts_with(HEALTH_PREFIX) {
            return CallFuture::new(self.inner.call(request), None);
        }
        let key = CallerKey::of(request.extensions());
        let name = CallerName(key.to_string().into());
        request.extensions_mut().insert(name);
        {
            let mut counts = self
                .counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let count = counts.entry(key.clone()).or_default();
            if *count >= self.max {
                return CallFuture::refuse(Status::resource_exhausted(format!(
                    "{key} has {count} calls in progress, the most one caller may have \
                     (--max-calls-per-caller); retry when one has ended"
                )));
            }
            *count += 1;
        }
        let counted = Counted {
            counts: Arc::clone(&self.counts),
            key,
        };
        CallFuture::new(self.inner.call(request), Some(counted))
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn from_peer(addr: &str) -> http::Extensions {
        let mut extensions = http::Extensions::new();
        extensions.insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(addr.parse::<SocketAddr>().unwrap()),
        });
        extensions
    }

    #[test]
    fn a_caller_is_its_token_or_else_its_peers_address() {
        let a = from_peer("10.0.0.1:5000");
        let b = from_peer("10.0.0.1:6000");
        assert_eq!(CallerKey::of(&a), CallerKey::of(&b), "one host, any port");
        assert_ne!(
            CallerKey::of(&a),
            CallerKey::of(&from_peer("10.0.0.2:5000"))
        );
        let mut with_token = from_peer("10.0.0.1:5000");
        with_token.insert(Caller("alice".into()));
        assert_eq!(CallerKey::of(&with_token).to_string(), "token \"alice\"");
        assert_eq!(CallerKey::of(&http::Extensions::new()), CallerKey::Local);
    }
}
