//! Server-rendered pages (askama). Every page extends `base.html`, which
//! shows the account switcher; pages log in with a form and an HttpOnly,
//! SameSite=Lax session cookie; forms that change state carry a CSRF token
//! bound to the session (the login form, before there is a session, a
//! token bound to a pre-session cookie). Pages carry no inline script or
//! style: the Content-Security-Policy set in `startup` forbids them.

pub mod accounts;
pub mod demand;
pub mod forecast_edits;
pub mod imports;
pub mod login;
pub mod plans;
pub mod purchase_orders;
pub mod supply;

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use askama::Template;

use crate::auth::{Caller, SESSION_COOKIE};
use crate::db::models::Account;
use crate::state::AppState;
use crate::web::error::AppError;
use crate::web::extractors::PageCaller;

/// Declares the page routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::logout))
        .route("/accounts", web::get().to(accounts::index))
        .route("/accounts", web::post().to(accounts::create))
        .route("/accounts/switch", web::get().to(accounts::switch))
        .route("/accounts/{id}", web::get().to(accounts::show))
        .route("/accounts/{id}/sync", web::post().to(accounts::start_sync))
        .route("/accounts/{id}/imports", web::get().to(imports::index))
        .route("/accounts/{id}/demand", web::get().to(demand::search))
        .route("/accounts/{id}/demand/{sku}", web::get().to(demand::show))
        .route(
            "/accounts/{id}/forecast-edits",
            web::get().to(forecast_edits::show),
        )
        .route(
            "/accounts/{id}/forecast-edits",
            web::post().to(forecast_edits::save),
        )
        .route(
            "/accounts/{id}/demand/{sku}/edits",
            web::post().to(demand::save_edit),
        )
        .route(
            "/accounts/{id}/order-plan",
            web::get().to(plans::order_plan),
        )
        .route(
            "/accounts/{id}/order-plan/export.csv",
            web::get().to(plans::export),
        )
        .route(
            "/accounts/{id}/purchase-orders",
            web::get().to(purchase_orders::list),
        )
        .route(
            "/accounts/{id}/purchase-orders/new",
            web::get().to(purchase_orders::review),
        )
        .route(
            "/accounts/{id}/purchase-orders/new",
            web::post().to(purchase_orders::create),
        )
        .route(
            "/purchase-orders/{po_id}",
            web::get().to(purchase_orders::show),
        )
        .route(
            "/purchase-orders/{po_id}/print",
            web::get().to(purchase_orders::print),
        )
        .route(
            "/purchase-orders/{po_id}/export.csv",
            web::get().to(purchase_orders::export),
        )
        .route(
            "/purchase-orders/{po_id}/{action}",
            web::post().to(purchase_orders::act),
        )
        .route(
            "/accounts/{id}/order-plan/{sku}",
            web::get().to(plans::explanation),
        )
        .route(
            "/accounts/{id}/order-plan/{sku}/not-for-reorder",
            web::post().to(plans::mark),
        )
        .route(
            "/accounts/{id}/supply-plan/{sku}",
            web::get().to(supply::show),
        )
        .route(
            "/accounts/{id}/supply-plan/{sku}/weeks",
            web::post().to(supply::set_week),
        )
        .route(
            "/accounts/{id}/imports/{entity}",
            web::post().to(imports::upload),
        );
}

/// One entry of the account switcher.
#[derive(Debug, Clone)]
pub struct SwitchItem {
    /// Account id.
    pub id: String,
    /// Label (children indented under the master).
    pub name: String,
    /// `master` or `child`.
    pub kind: String,
}

/// What the base layout needs: who is logged in, the switcher, the CSRF token.
#[derive(Debug, Clone)]
pub struct Shell {
    /// The user's e-mail.
    pub email: String,
    /// Accounts for the switcher.
    pub accounts: Vec<SwitchItem>,
    /// The account in view, if any.
    pub current: Option<String>,
    /// CSRF token for forms.
    pub csrf: String,
    /// Page title.
    pub title: String,
    /// The view within the account (the path after `/accounts/{id}/`, e.g.
    /// `order-plan`), kept when the switcher changes account.
    pub view: String,
}

impl Shell {
    /// Whether `id` is the account in view (for the switcher's `selected`).
    pub fn is_current(&self, id: &str) -> bool {
        self.current.as_deref() == Some(id)
    }
}

/// Builds the shell for a caller, loading the switcher's accounts.
pub async fn shell(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    current: Option<String>,
    title: &str,
) -> Result<(Shell, Vec<Account>), AppError> {
    let org = caller.organisation_id.clone();
    let accounts = state
        .db
        .read(move |conn| Account::list_by_organisation(conn, &org).map_err(AppError::from))
        .await?;
    let session = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let items = accounts
        .iter()
        .map(|a| SwitchItem {
            id: a.id.clone(),
            name: if a.is_master() {
                a.name.clone()
            } else if a.master_id.is_some() {
                format!("— {}", a.name)
            } else {
                a.name.clone()
            },
            kind: a.kind.to_string(),
        })
        .collect();
    Ok((
        Shell {
            email: caller.email.clone(),
            accounts: items,
            current,
            csrf: state.jwt.csrf_token(&session),
            title: title.to_string(),
            view: view_of(req.path()),
        },
        accounts,
    ))
}

/// The part of an account page's path after `/accounts/{id}/` (empty for
/// the account's own page and for pages outside an account).
pub fn view_of(path: &str) -> String {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("accounts"), Some(id), Some(rest)) if id != "switch" => rest.to_string(),
        _ => String::new(),
    }
}

/// Checks a submitted CSRF token against the session.
pub fn check_csrf(state: &AppState, req: &HttpRequest, token: &str) -> Result<(), AppError> {
    let session = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if !state.jwt.check_csrf(&session, token) {
        return Err(AppError::Forbidden(
            "The form has expired or did not come from this site; reload the page and try again."
                .into(),
        ));
    }
    Ok(())
}

/// Renders a template into a 200 HTML response.
pub fn render(t: &impl Template) -> Result<HttpResponse, AppError> {
    let body = t.render().map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// A 303 redirect.
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

/// Percent-encodes a string for a query parameter.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first page after login: the order plan of the organisation's master
/// (or of its only account); the accounts page when there is none yet.
async fn home(state: web::Data<AppState>, caller: PageCaller) -> Result<HttpResponse, AppError> {
    let org = caller.organisation_id.clone();
    let accounts = state
        .db
        .read(move |conn| Account::list_by_organisation(conn, &org).map_err(AppError::from))
        .await?;
    let visible: Vec<&Account> = accounts.iter().filter(|a| caller.can_see(&a.id)).collect();
    Ok(match visible.first() {
        Some(a) if a.is_master() || visible.len() == 1 => {
            redirect(&format!("/accounts/{}/order-plan", urlencode(&a.id)))
        }
        _ => redirect("/accounts"),
    })
}

/// A UTC time as the account's merchant reads it: in the account's time
/// zone (IANA name; UTC if unknown), with the zone's abbreviation.
pub fn local_time(timezone: &str, at: chrono::NaiveDateTime) -> String {
    use chrono::TimeZone;
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    tz.from_utc_datetime(&at)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}
