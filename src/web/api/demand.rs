//! `GET /api/v1/accounts/{id}/demand/{sku}` (`api.md`, "Planning reads"):
//! one SKU's demand analysis as JSON, or its sale lines as CSV with
//! `?format=csv`. The numbers come from `services::demand`; the safety
//! stock and reorder point from the stored plan, which the read lets the
//! plan job bring up to date first (like the order plan, up to
//! [`order_plan::PLAN_WAIT`]).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::Caller;
use crate::db::models::Account;
use crate::services::demand::{
    self, AccountRef, CandidateScore, Demand, ForecastRow, HistoryRow, PastAccuracy, Period,
    SaleRow, MAX_SALES,
};
use crate::services::order_plan::{self, PLAN_WAIT};
use crate::state::AppState;
use crate::web::api::openapi::ErrorBody;
use crate::web::api::visible_account;
use crate::web::error::AppError;

/// Declares the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/accounts/{id}/demand/{sku}", web::get().to(get_demand));
}

/// The demand part of the API description (merged into the document).
#[derive(OpenApi)]
#[openapi(
    paths(get_demand),
    components(schemas(
        DemandAnswer,
        Demand,
        HistoryRow,
        SaleRow,
        ForecastRow,
        CandidateScore,
        PastAccuracy,
        AccountRef,
        crate::services::demand::EditMonth,
        crate::services::demand::GridEdit
    ))
)]
pub struct DemandDoc;

/// The answer: the analysis with the stored plan's freshness.
#[derive(Debug, Serialize, ToSchema)]
pub struct DemandAnswer {
    /// When the plan (safety stock, reorder point) was computed.
    pub computed_at: Option<DateTime<Utc>>,
    /// Whether that plan is older than the data.
    pub stale: bool,
    /// The analysis.
    #[serde(flatten)]
    pub demand: Demand,
}

/// Query of the demand read.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DemandQuery {
    /// `day` (default), `week` (ISO weeks, labelled `YYYY-Www`) or `month`
    /// (`YYYY-MM`).
    pub period: Option<String>,
    /// `json` (default) or `csv`: every sale line as CSV.
    pub format: Option<String>,
}

/// Decodes the `%XX` sequences actix leaves in a path segment (`%2F`,
/// `%25`, `%2B`), so a SKU holding `/`, `%` or `+` matches.
pub fn decode_segment(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// Parses `period` (absent: day).
pub fn parse_period(p: Option<&str>) -> Result<Period, AppError> {
    match p {
        None | Some("") => Ok(Period::Day),
        Some(p) => Period::parse(p)
            .ok_or_else(|| AppError::invalid_field("period", "must be day, week or month")),
    }
}

/// Loads the analysis of SKU `sku` in `account` (the plan brought up to
/// date first); a 404 error when the account does not sell it.
pub async fn load(
    state: &AppState,
    account: &Account,
    sku: &str,
    period: Period,
    max_sales: usize,
) -> Result<DemandAnswer, AppError> {
    let order_plan::Freshness { header, stale } = order_plan::fresh(
        &state.db,
        &state.jobs,
        account,
        state.config.today,
        PLAN_WAIT,
    )
    .await?;
    let today = crate::services::plans::planning_date(account, state.config.today);
    let acc = account.clone();
    let sku = sku.to_string();
    let found = state
        .db
        .read(move |conn| demand::analyse(conn, &acc, &sku, today, period, max_sales))
        .await?;
    let demand = found
        .ok_or_else(|| AppError::NotFound("This account sells no variant with that SKU.".into()))?;
    Ok(DemandAnswer {
        computed_at: header
            .as_ref()
            .map(|h| crate::services::accounts::utc(h.computed_at)),
        stale,
        demand,
    })
}

/// The CSV columns of the sale lines.
pub const CSV_COLUMNS: [&str; 11] = [
    "ordered_at",
    "day",
    "account_id",
    "account_name",
    "order_id",
    "line_id",
    "quantity",
    "unit_price",
    "currency",
    "cancelled",
    "removed",
];

/// The sale lines as CSV.
pub fn csv_of(sales: &[SaleRow]) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS).map_err(AppError::internal)?;
    for s in sales {
        w.write_record([
            s.ordered_at.clone(),
            s.day.to_string(),
            s.account_id.clone(),
            s.account_name.clone(),
            s.order_id.clone(),
            s.line_id.clone(),
            s.quantity.to_string(),
            s.unit_price.map(|p| p.to_string()).unwrap_or_default(),
            s.currency.clone(),
            s.cancelled.to_string(),
            s.removed.to_string(),
        ])
        .map_err(AppError::internal)?;
    }
    w.into_inner().map_err(AppError::internal)
}

/// A CSV download of sale lines.
pub fn csv_response(sku_key: &str, sales: &[SaleRow]) -> Result<HttpResponse, AppError> {
    let name: String = sku_key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"sales-{name}.csv\""),
        ))
        .body(csv_of(sales)?))
}

/// One SKU's demand: history per period (stockout days, each child's
/// share), sale lines newest first (at most 5,000; `sales_total` counts
/// all; cancelled and removed orders marked and not counted), forecast over
/// the coverage window with its 80 % band, method and candidates, accuracy
/// of past forecasts (out of sample), safety stock and reorder point.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/demand/{sku}", tag = "planning",
    params(("id" = String, Path, description = "Account id"),
        ("sku" = String, Path, description = "SKU, percent-encoded (matched after normalisation)"),
        DemandQuery),
    responses((status = 200, body = DemandAnswer, description = "The analysis; CSV of the sale lines with format=csv"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_demand(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    query: web::Query<DemandQuery>,
) -> Result<HttpResponse, AppError> {
    let (id, sku) = path.into_inner();
    let period = parse_period(query.period.as_deref())?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(AppError::invalid_field("format", "must be json or csv")),
    };
    let account = visible_account(&state, &caller, id).await?;
    let sku = decode_segment(&sku);
    if csv {
        let a = load(&state, &account, &sku, period, usize::MAX).await?;
        return csv_response(&a.demand.sku_key, &a.demand.sales);
    }
    let a = load(&state, &account, &sku, period, MAX_SALES).await?;
    Ok(HttpResponse::Ok().json(a))
}

#[cfg(test)]
mod tests {
    use super::decode_segment;

    #[test]
    fn decodes_what_actix_keeps() {
        assert_eq!(decode_segment("A%2FB"), "A/B");
        assert_eq!(decode_segment("50%25"), "50%");
        assert_eq!(decode_segment("a+b%2B"), "a+b+");
        assert_eq!(decode_segment("100%"), "100%");
        assert_eq!(decode_segment("%zz"), "%zz");
    }
}
