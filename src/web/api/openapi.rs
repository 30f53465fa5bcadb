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
    common_answers(&mut doc);
    doc
}

/// Operations that need no credentials.
const PUBLIC: [(&str, &str); 2] = [
    ("post", "/api/v1/auth/token"),
    ("get", "/api/v1/openapi.json"),
];

/// Documents on every operation the answers the server gives to any of
/// them, so that a client (or a schema-driven fuzzer) meets no undocumented
/// status: `401` without valid credentials (every operation but the public
/// ones), `403` for a write a viewer, a read-only key or an account-scoped
/// key may not make, `400` for a body that is not JSON (or not of the
/// documented content type), `413` for one over the size limit and `422`
/// for one that does not validate (every operation with a body); and the CSV answer of the lists and pages that
/// take `format=csv`.
fn common_answers(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::HttpMethod;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            (HttpMethod::Get, "get", &mut item.get),
            (HttpMethod::Put, "put", &mut item.put),
            (HttpMethod::Post, "post", &mut item.post),
            (HttpMethod::Delete, "delete", &mut item.delete),
            (HttpMethod::Patch, "patch", &mut item.patch),
        ];
        for (method, name, op) in operations {
            let Some(op) = op.as_mut() else { continue };
            let answers = &mut op.responses.responses;
            if !PUBLIC.contains(&(name, path.as_str())) {
                answers.entry("401".into()).or_insert_with(|| {
                    error("No valid credentials: send `Authorization: Bearer <token or API key>`")
                });
                if method != HttpMethod::Get {
                    answers.entry("403".into()).or_insert_with(|| {
                        error("The credential may not make this change (a viewer, a read-only or an account-scoped key)")
                    });
                }
            }
            if op.request_body.is_some() {
                answers.entry("400".into()).or_insert_with(|| {
                    error("The body is not of the documented content type, or not well-formed")
                });
                answers
                    .entry("413".into())
                    .or_insert_with(|| error("The body is over the size limit"));
                answers.entry("422".into()).or_insert_with(|| {
                    error("The body is well-formed but invalid (every problem by row and field)")
                });
            }
            let csv = op
                .parameters
                .as_ref()
                .is_some_and(|ps| ps.iter().any(|p| p.name == "format"));
            if csv {
                if let Some(RefOr::T(ok)) = answers.get_mut("200") {
                    ok.content.entry("text/csv".into()).or_insert_with(|| {
                        ContentBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                            .build()
                    });
                }
            }
        }
    }
}

/// Handler used by the route table.
pub async fn serve() -> HttpResponse {
    serve_doc().await
}
