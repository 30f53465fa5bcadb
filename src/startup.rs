//! Building the HTTP application once: the actix app with its extractor
//! configuration, security headers and routes, and the HTTP server. `main`
//! and the tests both start the server through [`spawn`].

use std::net::TcpListener;

use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpServer};

use crate::auth::LoginLimiter;
pub use crate::state::AppState;
use crate::web::error;

/// The Content-Security-Policy of every answer: scripts, styles and images
/// from this server only (no inline script or style, no `eval`), no plugins,
/// forms post only here, and no page may be framed (clickjacking). API
/// answers get the same policy: JSON is never rendered as a document.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Registers extractor configuration and every route on an app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(1 << 20)
            .error_handler(|e, _| error::json_error(e).into()),
    )
    .app_data(web::QueryConfig::default().error_handler(|e, _| error::query_error(e).into()))
    .app_data(web::PathConfig::default().error_handler(|e, _| error::path_error(e).into()))
    .configure(crate::web::configure);
}

/// The security headers added to every response that does not set its own:
/// the CSP above, `nosniff`, `Referrer-Policy: same-origin`, `X-Frame-Options`
/// for old browsers, and HSTS when the server is configured for HTTPS.
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if https {
        headers.add(("Strict-Transport-Security", "max-age=31536000"))
    } else {
        headers
    }
}

/// Starts the HTTP server on a bound listener; returns the running server.
/// The login limiter is made here, once, so every worker shares it.
pub fn spawn(
    state: web::Data<AppState>,
    listener: TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let limiter = web::Data::new(LoginLimiter::from_config(&state.config));
    crate::crypto::prepare_dummy_hash();
    let https = state.config.https;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(limiter.clone())
            .wrap(
                actix_web::middleware::ErrorHandlers::new()
                    .default_handler(crate::web::error::html_errors),
            )
            .wrap(security_headers(https))
            .wrap(tracing_actix())
            .configure(configure)
    })
    .listen(listener)?
    .run();
    Ok(server)
}

fn tracing_actix() -> actix_web::middleware::Logger {
    actix_web::middleware::Logger::new("%r %s %Dms")
}
