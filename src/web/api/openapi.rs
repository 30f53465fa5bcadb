//! The OpenAPI 3 document, generated from the handlers' annotations so it
//! cannot drift from the code. Served without credentials.

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::web::error::Detail;

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
        crate::web::api::auth::token,
        crate::web::api::auth::logout,
        crate::web::api::users::list,
        crate::web::api::users::create,
        crate::web::api::users::update,
        crate::web::api::users::change_password,
        crate::web::api::api_keys::create,
        crate::web::api::api_keys::list,
        crate::web::api::api_keys::revoke,
        crate::web::api::accounts::list,
        crate::web::api::accounts::get,
        crate::web::api::accounts::create,
        crate::web::api::accounts::update,
        crate::web::api::imports::list,
        crate::web::api::imports::put_warehouses,
        crate::web::api::imports::post_warehouses,
        crate::web::api::imports::put_vendors,
        crate::web::api::imports::post_vendors,
        crate::web::api::imports::put_variants,
        crate::web::api::imports::post_variants,
        crate::web::api::imports::put_stock,
        crate::web::api::imports::post_stock,
        crate::web::api::imports::put_sales_orders,
        crate::web::api::imports::post_sales_orders,
        crate::web::api::imports::put_stock_orders,
        crate::web::api::imports::post_stock_orders,
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
    HttpResponse::Ok().json(document())
}

/// The whole document: the core paths and every module's own part.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::web::api::plans::PlanningDoc::openapi());
    doc.merge(crate::web::api::purchase_orders::PurchaseOrdersDoc::openapi());
    doc.merge(crate::web::api::demand::DemandDoc::openapi());
    doc.merge(crate::web::api::feeds::FeedsDoc::openapi());
    doc.merge(crate::web::api::forecast_edits::ForecastEditsDoc::openapi());
    doc.merge(crate::web::api::sync::SyncDoc::openapi());
    doc.merge(crate::web::api::supply::SupplyDoc::openapi());
    doc
}

/// Handler used by the route table.
pub async fn serve() -> HttpResponse {
    serve_doc().await
}
