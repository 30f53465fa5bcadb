//! `/accounts`: the accounts with their kind, connection and last sync, the
//! **Load data from all connections** button with its progress bar and
//! each child's sync status and button (`static/sync.js` polls the job; the
//! buttons also work without script, as forms), the form that adds a
//! connection of any kind with its settings (secret fields are never
//! pre-filled), and one account's page.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use crate::db::models::records::{record_counts, RecordCounts};
use crate::db::models::Account;
use crate::jobs::Job;
use crate::services::accounts::{self, NewChild};
use crate::services::sync;
use crate::services::ServiceError;
use crate::state::AppState;
use crate::web::api::accounts::{AccountView, Planning};
use crate::web::error::AppError;
use crate::web::extractors::PageCaller;
use crate::web::pages::{check_csrf, redirect, render, shell, Shell};

/// A row of the accounts table.
pub struct AccountRow {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// master / child.
    pub kind: String,
    /// Connection kind, or "—".
    pub connection: String,
    /// Last sync, or "never".
    pub last_synced: String,
    /// Currency.
    pub currency: String,
    /// Time zone.
    pub timezone: String,
    /// "stock and sales", "sales only", …
    pub included: String,
    /// Latest sync: `running`, `succeeded`, `failed`, or empty.
    pub sync_status: String,
    /// Latest sync, as a sentence (counts or the error).
    pub sync_note: String,
    /// Whether the account can be synced (a child with a pulled
    /// connection, or a master).
    pub syncable: bool,
}

impl From<&Account> for AccountRow {
    fn from(a: &Account) -> Self {
        let included = if a.is_master() {
            "—".to_string()
        } else {
            match (a.include_stock, a.include_sales) {
                (true, true) => "stock and sales".into(),
                (true, false) => "stock only".into(),
                (false, true) => "sales only".into(),
                (false, false) => "nothing".into(),
            }
        };
        AccountRow {
            id: a.id.clone(),
            name: a.name.clone(),
            kind: a.kind.to_string(),
            connection: match a.connection_kind.as_deref() {
                Some("manual") => "manual (CSV uploads and API)".into(),
                Some(k) => k.to_string(),
                None => "—".into(),
            },
            last_synced: a
                .last_synced_at
                .map(|t| crate::web::pages::local_time(&a.timezone, t))
                .unwrap_or_else(|| "never".into()),
            currency: a.currency.clone(),
            timezone: a.timezone.clone(),
            included,
            sync_status: String::new(),
            sync_note: String::new(),
            syncable: a.is_master() || a.connection_kind.as_deref().is_some_and(|k| k != "manual"),
        }
    }
}

impl AccountRow {
    fn with_sync(mut self, status: Option<&sync::ChildStatus>) -> Self {
        if let Some(s) = status {
            self.sync_status = s.status.clone();
            self.sync_note = match s.status.as_str() {
                "succeeded" => format!(
                    "succeeded: {} records written ({} unchanged)",
                    s.records, s.counts.unchanged
                ),
                "failed" => format!("failed: {}", s.error.clone().unwrap_or_default()),
                "skipped" => format!(
                    "skipped: {}",
                    s.error.clone().unwrap_or_else(|| sync::MANUAL_NOTE.into())
                ),
                other => other.to_string(),
            };
        }
        self
    }
}

/// The accounts page.
#[derive(Template)]
#[template(path = "accounts.html")]
pub struct AccountsPage {
    /// Layout.
    pub shell: Shell,
    /// Rows.
    pub rows: Vec<AccountRow>,
    /// Whether the caller may add connections.
    pub can_write: bool,
    /// Error from a failed form.
    pub error: Option<String>,
    /// The account "Load data from all connections" syncs (the master, or
    /// the only child).
    pub load_all: Option<String>,
    /// A sync job that is queued or running, for the progress bar.
    pub open_job: Option<String>,
}

/// One account's page.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// Layout.
    pub shell: Shell,
    /// The account.
    pub account: AccountRow,
    /// Planning defaults.
    pub planning: Planning,
    /// Connection settings shown (secrets never are).
    pub settings: Vec<(String, String)>,
    /// Children of a master.
    pub children: Vec<AccountRow>,
    /// Records held (a master: its children's together).
    pub counts: RecordCounts,
}

/// Form to add a connection.
#[derive(Debug, Deserialize)]
pub struct NewConnectionForm {
    /// CSRF token.
    pub csrf_token: String,
    /// Name.
    pub name: String,
    /// Currency.
    pub currency: String,
    /// Time zone.
    pub timezone: Option<String>,
    /// Connection kind.
    pub kind: String,
    /// Shopify shop domain.
    pub shop: Option<String>,
    /// Shopify access token (secret).
    pub access_token: Option<String>,
    /// WooCommerce shop address.
    pub base_url: Option<String>,
    /// Address of the other tributary server.
    pub tributary_base_url: Option<String>,
    /// WooCommerce consumer key (secret).
    pub consumer_key: Option<String>,
    /// WooCommerce consumer secret (secret).
    pub consumer_secret: Option<String>,
    /// Account id on the other tributary server.
    pub account_id: Option<String>,
    /// API key of the other tributary server (secret).
    pub api_key: Option<String>,
}

impl NewConnectionForm {
    /// `{"kind", ...settings}` from the fields of the chosen kind.
    fn connection(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), self.kind.clone().into());
        let fields: &[(&str, &Option<String>)] = match self.kind.as_str() {
            "shopify" => &[("shop", &self.shop), ("access_token", &self.access_token)],
            "woocommerce" => &[
                ("base_url", &self.base_url),
                ("consumer_key", &self.consumer_key),
                ("consumer_secret", &self.consumer_secret),
            ],
            "tributary" => &[
                ("base_url", &self.tributary_base_url),
                ("account_id", &self.account_id),
                ("api_key", &self.api_key),
            ],
            _ => &[],
        };
        for (k, v) in fields {
            if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
                m.insert(k.to_string(), v.trim().into());
            }
        }
        serde_json::Value::Object(m)
    }
}

/// The no-script sync button's form.
#[derive(Debug, Deserialize)]
pub struct SyncForm {
    /// CSRF token.
    pub csrf_token: String,
}

async fn accounts_page(
    state: &AppState,
    req: &HttpRequest,
    caller: &crate::auth::Caller,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let (shell, accounts) = shell(state, req, caller, None, "Accounts").await?;
    let load_all = accounts
        .iter()
        .find(|a| a.is_master())
        .or_else(|| accounts.iter().find(|a| !a.is_master()))
        .map(|a| a.id.clone());
    let org = caller.organisation_id.clone();
    let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    let (statuses, open_job) = state
        .db
        .run(move |conn| {
            let statuses = sync::latest_statuses(conn, &org)?;
            let mut open = None;
            for id in &ids {
                if let Some(j) = Job::open_for(conn, id, sync::KIND)? {
                    open = Some(j.id);
                    break;
                }
            }
            Ok::<_, AppError>((statuses, open))
        })
        .await?;
    let mut resp = render(&AccountsPage {
        shell,
        rows: accounts
            .iter()
            .map(|a| AccountRow::from(a).with_sync(statuses.get(&a.id)))
            .collect(),
        can_write: caller.require_write().is_ok(),
        error: error.clone(),
        load_all,
        open_job,
    })?;
    if error.is_some() {
        *resp.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// Lists the accounts.
pub async fn index(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    accounts_page(&state, &req, &caller, None).await
}

/// Adds a connection of any kind with its settings.
pub async fn create(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    form: web::Form<NewConnectionForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&state, &req, &form.csrf_token)?;
    caller.require_write()?;
    let input = NewChild {
        name: form.name.clone(),
        currency: form.currency.clone(),
        timezone: form.timezone.clone().filter(|t| !t.trim().is_empty()),
        connection: Some(form.connection()),
    };
    let org = caller.organisation_id.clone();
    let st = state.clone();
    let result = state
        .db
        .run(move |conn| accounts::create_child(conn, &org, &input, &st.secrets, &st.config.sync))
        .await;
    match result {
        Ok(a) => Ok(redirect(&format!("/accounts/{}", a.id))),
        Err(ServiceError::Invalid {
            message, details, ..
        }) => {
            let detail = details
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            accounts_page(&state, &req, &caller, Some(format!("{message} {detail}"))).await
        }
        Err(e) => Err(e.into()),
    }
}

/// One account: settings, connection (without secrets), children.
pub async fn show(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let (shell, accounts) = shell(&state, &req, &caller, Some(id.clone()), "Account").await?;
    let account = accounts
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| AppError::not_found("account"))?;
    let view = AccountView::from(account);
    let settings = view
        .connection
        .as_ref()
        .and_then(|c| c.as_object())
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "kind")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let children: Vec<AccountRow> = accounts
        .iter()
        .filter(|a| a.master_id.as_deref() == Some(id.as_str()))
        .map(AccountRow::from)
        .collect();
    let holders: Vec<String> = if account.is_master() {
        children.iter().map(|c| c.id.clone()).collect()
    } else {
        vec![account.id.clone()]
    };
    let counts = state
        .db
        .run(move |conn| {
            holders.iter().try_fold(RecordCounts::default(), |sum, id| {
                Ok::<_, AppError>(sum + record_counts(conn, id)?)
            })
        })
        .await?;
    let mut shell = shell;
    shell.title = account.name.clone();
    render(&AccountPage {
        shell,
        account: AccountRow::from(account),
        planning: view.planning,
        settings,
        children,
        counts,
    })
}

/// Starts a sync without script (the button's form), then shows the
/// accounts page.
pub async fn start_sync(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<SyncForm>,
) -> Result<HttpResponse, AppError> {
    check_csrf(&state, &req, &form.csrf_token)?;
    caller.require_write()?;
    let account = crate::web::api::visible_account(&state, &caller, path.into_inner()).await?;
    state
        .db
        .run(move |conn| sync::enqueue(conn, &account).map_err(AppError::from))
        .await?;
    state.jobs.wake();
    Ok(redirect("/accounts"))
}

/// Query of the switcher.
#[derive(Debug, Deserialize)]
pub struct SwitchQuery {
    /// Account to view.
    pub id: Option<String>,
    /// The view to keep (e.g. `order-plan`), from the page it was on.
    pub view: Option<String>,
    /// A SKU in view (the demand page): open the same SKU in the chosen
    /// account (which says so if it does not sell it).
    pub sku: Option<String>,
}

/// The views the switcher may keep: the known pages of an account.
fn keepable(view: &str) -> bool {
    let first = view.split('/').next().unwrap_or_default();
    ["order-plan", "imports", "demand"].contains(&first)
        && !view.contains("..")
        && !view.contains('\\')
        && view.chars().all(|c| !c.is_control() && !c.is_whitespace())
}

/// The switcher: redirects to the chosen account, keeping the view (the
/// order plan of one account → the order plan of the chosen one).
pub async fn switch(query: web::Query<SwitchQuery>) -> HttpResponse {
    let view = query.view.as_deref().unwrap_or_default();
    let sku = query.sku.as_deref().filter(|s| !s.is_empty());
    match query.id.as_deref().filter(|s| !s.is_empty()) {
        Some(id) if sku.is_some() => redirect(&format!(
            "/accounts/{}/demand/{}",
            crate::web::pages::demand::encode_segment(id),
            crate::web::pages::demand::encode_segment(sku.unwrap_or_default())
        )),
        // The view is the page's own (already encoded) path after the
        // account id: keep it as it is.
        Some(id) if keepable(view) && !view.starts_with("demand") => redirect(&format!(
            "/accounts/{}/{}",
            crate::web::pages::urlencode(id),
            view
        )),
        Some(id) => redirect(&format!("/accounts/{}", crate::web::pages::urlencode(id))),
        None => redirect("/accounts"),
    }
}
