//! The OpenAPI 3 document, generated from the handlers' annotations so it
//! cannot drift from the code. Served without credentials.

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::Detail;

/// The error body every failure uses.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorInner,
}

/// Inside the error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorInner {
    /// snake_case code.
    pub code: String,
    /// A sentence a person can act on.
    pub message: String,
    /// Per-row and per-field problems.
    pub details: Vec<Detail>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "tributary", description = "Multi-account inventory planning: the open API."),
    paths(
        crate::routes::api::auth::token,
        crate::routes::api::users::list,
        crate::routes::api::users::create,
        crate::routes::api::api_keys::create,
        crate::routes::api::api_keys::list,
        crate::routes::api::api_keys::revoke,
        crate::routes::api::accounts::list,
        crate::routes::api::accounts::get,
        crate::routes::api::accounts::create,
        crate::routes::api::accounts::update,
        crate::routes::api::imports::list,
        crate::routes::api::imports::put_warehouses,
        crate::routes::api::imports::post_warehouses,
        crate::routes::api::imports::put_vendors,
        crate::routes::api::imports::post_vendors,
        crate::routes::api::imports::put_variants,
        crate::routes::api::imports::post_variants,
        crate::routes::api::imports::put_stock,
        crate::routes::api::imports::post_stock,
        crate::routes::api::imports::put_sales_orders,
        crate::routes::api::imports::post_sales_orders,
        crate::routes::api::imports::put_stock_orders,
        crate::routes::api::imports::post_stock_orders,
        serve_doc,
    ),
    components(schemas(ErrorBody, ErrorInner, Detail)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3 document")))]
async fn serve_doc() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Handler used by the route table.
pub async fn serve() -> HttpResponse {
    serve_doc().await
}
