//! The read feeds (`api.md`, "Read feeds"): `GET` on the six entity paths
//! whose `PUT` is the JSON import. What another server's `tributary`
//! connection pulls; the paging rules are in `services::feeds`.

use actix_web::web;
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use crate::auth::Caller;
use crate::import::Entity;
use crate::services::feeds::{self, FeedPage};
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

/// Declares the feed routes (GET beside the imports' PUT on the same paths).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{id}/warehouses", web::get().to(get_warehouses))
        .route("/accounts/{id}/vendors", web::get().to(get_vendors))
        .route("/accounts/{id}/variants", web::get().to(get_variants))
        .route("/accounts/{id}/stock", web::get().to(get_stock))
        .route(
            "/accounts/{id}/sales-orders",
            web::get().to(get_sales_orders),
        )
        .route(
            "/accounts/{id}/stock-orders",
            web::get().to(get_stock_orders),
        );
}

/// The feeds' part of the API description.
#[derive(OpenApi)]
#[openapi(
    paths(
        get_warehouses,
        get_vendors,
        get_variants,
        get_stock,
        get_sales_orders,
        get_stock_orders
    ),
    components(schemas(FeedPage))
)]
pub struct FeedsDoc;

/// Paging parameters of a feed.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// The `next` of the previous page; absent: from the start.
    pub after: Option<String>,
    /// Records per page (default 1,000, at most 10,000).
    pub limit: Option<usize>,
}

async fn feed(
    state: web::Data<AppState>,
    caller: Caller,
    id: String,
    query: FeedQuery,
    entity: Entity,
) -> Result<web::Json<FeedPage>, AppError> {
    let account = visible_account(&state, &caller, id).await?;
    let page = state
        .db
        .run(move |conn| {
            feeds::read(conn, &account, entity, query.after.as_deref(), query.limit)
                .map_err(AppError::from)
        })
        .await?;
    Ok(web::Json(page))
}

macro_rules! feed_handler {
    ($name:ident, $entity:expr, $path:literal, $what:literal) => {
        #[doc = concat!("The ", $what, " feed.")]
        #[utoipa::path(get, path = $path, tag = "feeds",
                    params(("id" = String, Path, description = "Account id"), FeedQuery),
                    responses((status = 200, body = FeedPage), (status = 404, body = ErrorBody),
                        (status = 422, body = ErrorBody)))]
        pub async fn $name(
            state: web::Data<AppState>,
            caller: Caller,
            path: web::Path<String>,
            query: web::Query<FeedQuery>,
        ) -> Result<web::Json<FeedPage>, AppError> {
            feed(
                state,
                caller,
                path.into_inner(),
                query.into_inner(),
                $entity,
            )
            .await
        }
    };
}

feed_handler!(
    get_warehouses,
    Entity::Warehouses,
    "/api/v1/accounts/{id}/warehouses",
    "warehouses"
);
feed_handler!(
    get_vendors,
    Entity::Vendors,
    "/api/v1/accounts/{id}/vendors",
    "vendors"
);
feed_handler!(
    get_variants,
    Entity::Variants,
    "/api/v1/accounts/{id}/variants",
    "variants"
);
feed_handler!(
    get_stock,
    Entity::Stock,
    "/api/v1/accounts/{id}/stock",
    "stock levels"
);
feed_handler!(
    get_sales_orders,
    Entity::SalesOrders,
    "/api/v1/accounts/{id}/sales-orders",
    "sales orders"
);
feed_handler!(
    get_stock_orders,
    Entity::StockOrders,
    "/api/v1/accounts/{id}/stock-orders",
    "stock orders"
);
