//! Bearer-token auth for gRPC calls: the layer over [`crate::domain::auth::Tokens`].
//!
//! Every call needs a token allowed its method, except calls to
//! [`crate::domain::auth::OPEN_SERVICES`] (health, reflection). No token, or one the server
//! does not know, gets UNAUTHENTICATED; a known token without the permission gets
//! PERMISSION_DENIED (the gRPC status code guide's distinction). The token itself is
//! never logged; its name goes in the request's extensions as the [`Caller::Token`] the
//! per-caller quota counts for.

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response, header::AUTHORIZATION};
use tonic::{Status, body::Body};
use tower::{Layer, Service};
use tracing::debug;

use super::guard::{CallFuture, Unguarded};
use crate::domain::auth::{AuthError, OPEN_SERVICES, Tokens};
use crate::domain::budget::Caller;

/// The status of a refused call.
pub fn auth_status(err: &AuthError) -> Status {
    match err {
        AuthError::Missing | AuthError::Unknown => Status::unauthenticated(err.to_string()),
        AuthError::Denied { .. } => Status::permission_denied(err.to_string()),
    }
}

/// A [`Layer`] that requires a bearer token on every call but health and reflection.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    tokens: Arc<Tokens>,
}

impl AuthLayer {
    /// Checks calls against `tokens`.
    pub fn new(tokens: Arc<Tokens>) -> Self {
        Self { tokens }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            tokens: Arc::clone(&self.tokens),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    tokens: Arc<Tokens>,
}

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = CallFuture<S::Future, Unguarded>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let method = request.uri().path().trim_start_matches('/');
        let service = method
            .split_once('/')
            .map_or(method, |(service, _)| service);
        if OPEN_SERVICES.contains(&service) {
            return CallFuture::new(self.inner.call(request), None);
        }
        let authorization = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
        match self.tokens.authorize(authorization, method) {
            Ok(name) => {
                // The caller the quota counts for (super::quota).
                let caller = Caller::Token(name.into());
                request.extensions_mut().insert(caller);
                CallFuture::new(self.inner.call(request), None)
            }
            Err(err) => {
                debug!(%method, "call refused: {err}");
                CallFuture::refuse(auth_status(&err))
            }
        }
    }
}
