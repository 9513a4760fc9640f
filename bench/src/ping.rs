//! The application both HTTP servers of the benchmark run: `GET /ping`
//! answers `pong`, anything else 404. The framework and the plain hyper
//! server call this same function, so that the comparison measures what
//! each adds around it and nothing of a router.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};

/// Answers one request.
pub async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = if request.uri().path() == "/ping" {
        (StatusCode::OK, "pong")
    } else {
        (StatusCode::NOT_FOUND, "")
    };
    let response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a static response is valid");
    Ok(response)
}
