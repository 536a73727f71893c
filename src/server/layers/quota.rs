//! A limit on the calls one caller may have in progress (`--max-calls-per-caller`), so
//! that one caller cannot take every slot of `--max-concurrent-requests` and lock the
//! others out.
//!
//! The caller ([`Caller`]) is the token's name when auth is on ([`super::auth`] puts it
//! in the request's extensions), or else the peer's IP address (every port of
//! one host is one caller; every client of a Unix socket is one caller). A call over
//! the quota is answered at once with RESOURCE_EXHAUSTED, the status code table's code
//! for "a per-user quota", naming the caller and the flag. A call counts until its
//! response ends, like its global slot. Health checks are never counted. The caller goes
//! on in the request's extensions, for the services that keep per-caller budgets (the
//! video and interop services' memory).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use http::{Request, Response};
use tonic::{Status, body::Body, transport::server::TcpConnectInfo};
use tower::{Layer, Service};

use super::guard::{CallFuture, CallGuard};
use crate::domain::budget::Caller;

/// The path prefix of the calls never counted.
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// The caller of a request: the token the auth layer put in its extensions, or else its
/// peer's IP address.
fn caller_of(extensions: &http::Extensions) -> Caller {
    if let Some(caller) = extensions.get::<Caller>() {
        return caller.clone();
    }
    match extensions
        .get::<TcpConnectInfo>()
        .and_then(|info| info.remote_addr)
    {
        Some(addr) => Caller::Peer(addr.ip()),
        None => Caller::Local,
    }
}

/// The calls in progress of each caller with at least one. foldhash, seeded per process:
/// two lookups on every call, where std's SipHash cost about 570 instructions a call
/// (callgrind of SayHello); the keys are peer addresses and token names, at most one
/// entry per call in progress.
type Counts = Arc<Mutex<HashMap<Caller, usize, foldhash::fast::RandomState>>>;

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
    key: Caller,
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
        let key = caller_of(request.extensions());
        request.extensions_mut().insert(key.clone());
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
        assert_eq!(caller_of(&a), caller_of(&b), "one host, any port");
        assert_ne!(caller_of(&a), caller_of(&from_peer("10.0.0.2:5000")));
        let mut with_token = from_peer("10.0.0.1:5000");
        with_token.insert(Caller::Token("alice".into()));
        assert_eq!(caller_of(&with_token).to_string(), "token \"alice\"");
        assert_eq!(caller_of(&http::Extensions::new()), Caller::Local);
    }
}
