//! Compatibility surfaces: other products' public APIs served over this
//! server's data, so that the scripts and clients merchants already have keep
//! working. Each surface maps its requests onto the native import records and
//! runs them through the one import path (`services::imports`).

pub mod stocktrim;

use actix_web::web;

/// Declares the compatibility surfaces (`/compat/stocktrim/...`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/compat/stocktrim")
            .app_data(web::PayloadConfig::new(stocktrim::MAX_BODY))
            .wrap(actix_web::middleware::from_fn(stocktrim::guard))
            .configure(stocktrim::configure)
            .default_service(web::to(stocktrim::not_found)),
    );
}
