//! Building the HTTP application once: the actix app with its extractor
//! configuration and routes, and the HTTP server. `main` and
//! the tests both start the server through [`spawn`].

use std::net::TcpListener;

use actix_web::{web, App, HttpServer};

pub use crate::state::AppState;
use crate::web::error;

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

/// Starts the HTTP server on a bound listener; returns the running server.
pub fn spawn(
    state: web::Data<AppState>,
    listener: TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
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
