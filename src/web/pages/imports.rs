//! `/accounts/{id}/imports`: a form per entity with its template CSV, the
//! upload (multipart form with the CSRF token before the file; script adds
//! an upload progress bar), the result or every row error, and the import
//! log. The account and the caller's permission are checked before the
//! upload is read.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use futures_util::StreamExt;

use crate::db::models::import_run::ImportRun;
use crate::import::Entity;
use crate::services::imports::{Body, ImportAnswer, ImportView};
use crate::services::{Detail, ServiceError};
use crate::state::AppState;
use crate::web::api::imports::{admit, check_declared_length, spool};
use crate::web::error::AppError;
use crate::web::extractors::PageCaller;
use crate::web::pages::{check_csrf, render, shell, Shell};

/// One entity's upload form.
pub struct EntityForm {
    /// `sales-orders`, …
    pub slug: &'static str,
    /// Human label.
    pub label: &'static str,
    /// Template header.
    pub header: &'static str,
}

/// The outcome shown after an upload.
pub struct Outcome {
    /// Entity label.
    pub label: String,
    /// Success counts.
    pub answer: Option<ImportAnswer>,
    /// Error sentence.
    pub error: Option<String>,
    /// Row errors.
    pub details: Vec<Detail>,
}

/// The imports page.
#[derive(Template)]
#[template(path = "imports.html")]
pub struct ImportsPage {
    /// Layout.
    pub shell: Shell,
    /// Account id.
    pub account_id: String,
    /// Account name.
    pub account_name: String,
    /// Whether the account is a master (no imports).
    pub is_master: bool,
    /// Whether the caller may upload.
    pub can_write: bool,
    /// Forms.
    pub forms: Vec<EntityForm>,
    /// Result of the upload just made.
    pub outcome: Option<Outcome>,
    /// The log.
    pub log: Vec<ImportView>,
    /// The account's time zone (times are shown in it).
    pub timezone: String,
}

impl ImportsPage {
    /// A logged time in the account's time zone.
    pub fn when(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        crate::web::pages::local_time(&self.timezone, at.naive_utc())
    }
}

fn label(e: Entity) -> &'static str {
    match e {
        Entity::Warehouses => "Warehouses",
        Entity::Vendors => "Vendors",
        Entity::Variants => "Variants (products)",
        Entity::Stock => "Stock levels",
        Entity::SalesOrders => "Sales orders",
        Entity::StockOrders => "Stock orders (purchases, transfers, assemblies)",
    }
}

async fn page(
    state: &AppState,
    req: &HttpRequest,
    caller: &crate::auth::Caller,
    account_id: String,
    outcome: Option<Outcome>,
) -> Result<HttpResponse, AppError> {
    let (mut shell, accounts) =
        shell(state, req, caller, Some(account_id.clone()), "Imports").await?;
    let account = accounts
        .into_iter()
        .find(|a| a.id == account_id && caller.can_see(&a.id))
        .ok_or_else(|| AppError::not_found("account"))?;
    shell.title = format!("Imports · {}", account.name);
    let id = account.id.clone();
    let log = state
        .db
        .run(move |conn| ImportRun::list_by_account(conn, &id, 50).map_err(AppError::from))
        .await?;
    let failed = outcome.as_ref().is_some_and(|o| o.error.is_some());
    let mut resp = render(&ImportsPage {
        shell,
        account_id: account.id.clone(),
        account_name: account.name.clone(),
        is_master: account.is_master(),
        timezone: account.timezone.clone(),
        can_write: caller.require_write().is_ok(),
        forms: Entity::ALL
            .iter()
            .map(|e| EntityForm {
                slug: e.as_str(),
                label: label(*e),
                header: e.csv_header(),
            })
            .collect(),
        outcome,
        log: log.iter().map(ImportView::from).collect(),
    })?;
    if failed {
        *resp.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}

/// Shows the forms and the log.
pub async fn index(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    page(&state, &req, &caller, path.into_inner(), None).await
}

/// Takes an upload from the page. The account and the caller's permission
/// are checked, and an import slot taken, before any of the body is read;
/// then the CSRF token (the form's first field) and the file, spooled.
pub async fn upload(
    state: web::Data<AppState>,
    caller: PageCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let started_at = Utc::now();
    let (account_id, slug) = path.into_inner();
    let entity =
        Entity::parse(&slug).ok_or_else(|| AppError::NotFound("No such import.".into()))?;
    let account = crate::web::api::visible_account(&state, &caller, account_id.clone()).await?;
    let admitted = admit(&state, &caller, account, entity, "csv", started_at).await?;
    let file = match read_form(&state, &req, payload).await {
        Ok(file) => file,
        Err(e) => return Err(admitted.refused(&state, e).await),
    };
    let result = admitted.run(&state, Body::Csv(file)).await;
    let outcome = match result {
        Ok(answer) => Outcome {
            label: label(entity).into(),
            answer: Some(answer),
            error: None,
            details: vec![],
        },
        Err(ServiceError::Internal(cause)) => return Err(AppError::Internal(cause)),
        Err(e) => {
            let details = match &e {
                ServiceError::Invalid { details, .. } => details.clone(),
                _ => vec![],
            };
            Outcome {
                label: label(entity).into(),
                answer: None,
                error: Some(e.public_message()),
                details,
            }
        }
    };
    page(&state, &req, &caller, account_id, Some(outcome)).await
}

/// Reads the upload form: the CSRF token first, then the file, spooled.
async fn read_form(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<std::fs::File, AppError> {
    let limit = state.config.max_upload_bytes;
    check_declared_length(req, limit)?;
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let mut csrf_ok = false;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| AppError::BadRequest {
            code: "malformed_body",
            message: format!("The form could not be read: {e}."),
        })?;
        match field.name() {
            Some("csrf_token") => {
                let mut token = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| AppError::BadRequest {
                        code: "malformed_body",
                        message: e.to_string(),
                    })?;
                    token.extend_from_slice(&chunk);
                    if token.len() > 200 {
                        break;
                    }
                }
                check_csrf(state, req, &String::from_utf8_lossy(&token))?;
                csrf_ok = true;
            }
            Some("file") if csrf_ok => return spool(field, limit).await,
            Some("file") => check_csrf(state, req, "")?,
            _ => {}
        }
    }
    Err(AppError::invalid_field(
        "file",
        "choose a CSV file to upload",
    ))
}
