//! Users and organisations: the command-line `user add`, which creates the
//! organisation when it is new.

use chrono::Utc;
use diesel::Connection as _;

use crate::crypto::{hash_password, new_id};
use crate::db::models::{NewUser, Organisation, User};
use crate::db::DbConn;
use crate::services::ServiceError;

/// A user's role.
pub const ROLES: [&str; 2] = ["admin", "viewer"];

/// What `add_user` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedUser {
    /// User id.
    pub user_id: String,
    /// Organisation id.
    pub organisation_id: String,
    /// Whether the organisation was created now.
    pub organisation_created: bool,
}

fn validate(email: &str, password: &str, role: &str) -> Result<String, ServiceError> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(ServiceError::invalid_field(
            "email",
            "must be an e-mail address",
        ));
    }
    if password.is_empty() {
        return Err(ServiceError::invalid_field("password", "must not be empty"));
    }
    if !ROLES.contains(&role) {
        return Err(ServiceError::invalid_field(
            "role",
            "must be admin or viewer",
        ));
    }
    Ok(email)
}

/// Adds a new user to an existing organisation (by id); returns the user id.
pub fn add_user_to_organisation(
    conn: &mut DbConn,
    email: &str,
    password: &str,
    organisation_id: &str,
    role: &str,
) -> Result<String, ServiceError> {
    let email = validate(email, password, role)?;
    let id = new_id("usr");
    User::insert(
        conn,
        &NewUser {
            id: &id,
            organisation_id,
            email: &email,
            password_hash: &hash_password(password),
            role,
            created_at: Utc::now().naive_utc(),
        },
    )?;
    Ok(id)
}

/// Creates a user in the organisation named `organisation` (created if new).
/// An e-mail that already exists in the same organisation has its password
/// and role replaced (so the command is safe to run twice).
pub fn add_user(
    conn: &mut DbConn,
    email: &str,
    password: &str,
    organisation: &str,
    role: &str,
) -> Result<AddedUser, ServiceError> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(ServiceError::invalid_field(
            "email",
            "must be an e-mail address",
        ));
    }
    if password.is_empty() {
        return Err(ServiceError::invalid_field("password", "must not be empty"));
    }
    let organisation = organisation.trim();
    if organisation.is_empty() {
        return Err(ServiceError::invalid_field(
            "organisation",
            "must not be empty",
        ));
    }
    if !ROLES.contains(&role) {
        return Err(ServiceError::invalid_field(
            "role",
            "must be admin or viewer",
        ));
    }
    let hash = hash_password(password);
    conn.transaction(|conn| {
        let now = Utc::now().naive_utc();
        let (org, created) = match Organisation::find_by_name(conn, organisation)? {
            Some(o) => (o, false),
            None => {
                let o = Organisation {
                    id: new_id("org"),
                    name: organisation.to_string(),
                    created_at: now,
                    accounts_version: 0,
                };
                Organisation::insert(conn, &o)?;
                (o, true)
            }
        };
        if let Some(existing) = User::find_by_email(conn, &email)? {
            if existing.organisation_id != org.id {
                return Err(ServiceError::Conflict {
                    code: "email_taken",
                    message: "That e-mail already belongs to a user of another organisation."
                        .into(),
                });
            }
            User::update_credentials(conn, &existing.id, &hash, role)?;
            return Ok(AddedUser {
                user_id: existing.id,
                organisation_id: org.id,
                organisation_created: created,
            });
        }
        let id = new_id("usr");
        User::insert(
            conn,
            &NewUser {
                id: &id,
                organisation_id: &org.id,
                email: &email,
                password_hash: &hash,
                role,
                created_at: now,
            },
        )?;
        Ok(AddedUser {
            user_id: id,
            organisation_id: org.id,
            organisation_created: created,
        })
    })
}
