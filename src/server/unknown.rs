//! UNIMPLEMENTED that says what exists: a call to a service or method this server does
//! not host is answered here, before tonic's `Routes`, with a message naming what was
//! asked for and the closest names that are served ([`Catalog::unknown`]).
//!
//! Why before the routes: tonic 0.14.9 answers an unknown service (`Routes`' fallback,
//! src/service/router.rs `unimplemented`) and each generated server an unknown method
//! of its service (tonic-prost-build's `_ =>` arm) with UNIMPLEMENTED and an empty
//! message, neither of which can be given one.

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
};

use futures::future::{Either, Ready};
use http::{Request, Response};
use tonic::{Status, body::Body};

use super::layers::methods::RpcType;
use crate::domain::catalog::Catalog;

/// The methods of `known_methods` (from the descriptor sets) whose service is one of
/// `services`, the routed ones: the descriptor sets also describe services that are not
/// hosted.
pub(super) fn hosted(known_methods: &[(String, RpcType)], services: &[String]) -> Catalog {
    Catalog::from_paths(
        known_methods
            .iter()
            .map(|(path, _)| path.as_str())
            .filter(|path| {
                services.iter().any(|service| {
                    path.strip_prefix('/')
                        .and_then(|rest| rest.strip_prefix(service.as_str()))
                        .is_some_and(|rest| rest.starts_with('/'))
                })
            }),
    )
}

/// Sends calls to hosted methods on to `inner`, and answers every other call with
/// UNIMPLEMENTED and [`Catalog::unknown`]'s message. Over gRPC, grpc-web (translated
/// to gRPC before this) and the REST gateway's in-process calls alike.
#[derive(Debug, Clone)]
pub struct Known<S> {
    /// The hosted methods, read from the descriptor sets of the routed services.
    catalog: Arc<Catalog>,
    inner: S,
}

impl<S> Known<S> {
    /// `inner` (the routes), behind the check that a call's path is in `catalog`.
    pub fn new(catalog: Arc<Catalog>, inner: S) -> Self {
        Self { catalog, inner }
    }
}

/// The trailers-only UNIMPLEMENTED response for a call to `path`.
fn unimplemented(catalog: &Catalog, path: &str) -> Response<Body> {
    let message = catalog
        .unknown(path)
        .unwrap_or_else(|| format!("{path} is not implemented"));
    let (parts, ()) = Status::unimplemented(message)
        .into_http::<()>()
        .into_parts();
    Response::from_parts(parts, Body::empty())
}

impl<S, B> tower::Service<Request<B>> for Known<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response<Body>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        if self.catalog.serves(path) {
            Either::Left(self.inner.call(request))
        } else {
            Either::Right(futures::future::ready(Ok(unimplemented(
                &self.catalog,
                path,
            ))))
        }
    }
}
