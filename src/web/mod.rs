//! The one route table: the JSON API under `/api/v1`, the server-rendered
//! pages, and static assets. `main` and the tests both use [`configure`].

pub mod api;
pub mod compat;
pub mod error;
pub mod extractors;
pub mod pages;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::web::error::AppError;

/// Declares every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(compat::configure);
    cfg.service(
        web::scope("/api/v1")
            .configure(api::configure)
            .default_service(web::to(api_not_found)),
    )
    .service(actix_files::Files::new("/static", static_dir()).prefer_utf8(true))
    .configure(pages::configure);
}

/// The `static/` folder of the crate (assets are served from the source tree
/// or from beside the binary's working directory).
pub fn static_dir() -> std::path::PathBuf {
    let local = std::path::PathBuf::from("static");
    if local.is_dir() {
        local
    } else {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static")
    }
}

async fn api_not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound(format!(
        "There is no API endpoint {} {}.",
        req.method(),
        req.path()
    )))
}
