//! Users and organisations: the command-line `user add`, which creates the
//! organisation when it is new; admins adding people and changing their
//! roles; people changing their own password. The password policy lives
//! here ([`check_new_password`]); changing a password or a role ends the
//! user's sessions (its `token_version` is bumped by the model).

use chrono::Utc;

use crate::crypto::{hash_password, new_id, verify_password};
use crate::db::models::{NewUser, Organisation, User};
use crate::db::DbConn;
use crate::services::ServiceError;

/// A user's role.
pub const ROLES: [&str; 2] = ["admin", "viewer"];

/// The fewest characters a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The most characters a new password may have (argon2 hashes anything,
/// but nobody needs more and bodies stay small).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Checks a new password against the policy; `field` names it in the error.
pub fn check_new_password(field: &str, password: &str) -> Result<(), ServiceError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ServiceError::invalid_field(
            field,
            format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ServiceError::invalid_field(
            field,
            format!("must have at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

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

/// Checks a new user's e-mail, password and role; returns the e-mail as
/// stored (trimmed, lowercase). Hash the password only after this passed.
pub fn validate_new_user(email: &str, password: &str, role: &str) -> Result<String, ServiceError> {
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(ServiceError::invalid_field(
            "email",
            "must be an e-mail address",
        ));
    }
    check_new_password("password", password)?;
    if !ROLES.contains(&role) {
        return Err(ServiceError::invalid_field(
            "role",
            "must be admin or viewer",
        ));
    }
    Ok(email)
}

/// Adds a new user to an existing organisation (by id) with an already
/// checked e-mail ([`validate_new_user`]) and an argon2 hash made off the
/// database pool; returns the user id.
pub fn add_user_to_organisation(
    conn: &mut DbConn,
    email: &str,
    password_hash: &str,
    organisation_id: &str,
    role: &str,
) -> Result<String, ServiceError> {
    let id = new_id("usr");
    User::insert(
        conn,
        &NewUser {
            id: &id,
            organisation_id,
            email,
            password_hash,
            role,
            created_at: Utc::now().naive_utc(),
        },
    )?;
    Ok(id)
}

/// Creates a user in the organisation named `organisation` (created if new).
/// An e-mail that already exists in the same organisation has its password
/// and role replaced (so the command is safe to run twice), which ends its
/// sessions unless both were already the same. The password must meet the policy ([`check_new_password`]).
pub fn add_user(
    conn: &mut DbConn,
    email: &str,
    password: &str,
    organisation: &str,
    role: &str,
) -> Result<AddedUser, ServiceError> {
    check_new_password("password", password)?;
    upsert_user(conn, email, password, organisation, role)
}

/// [`add_user`] without the password policy, for the demo's documented
/// password (`demo`) only: never call it with a password a person chose.
pub fn add_demo_user(
    conn: &mut DbConn,
    email: &str,
    password: &str,
    organisation: &str,
    role: &str,
) -> Result<AddedUser, ServiceError> {
    upsert_user(conn, email, password, organisation, role)
}

fn upsert_user(
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
    crate::db::transaction(conn, |conn| {
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
            // Running the command again with the same password and role
            // changes nothing and keeps the user's sessions (the demo
            // seeds its user at every start).
            let unchanged =
                existing.role == role && verify_password(password, &existing.password_hash);
            if !unchanged {
                User::update_credentials(conn, &existing.id, &hash, role)?;
            }
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

/// Sets the role of a user of the organisation (ending that user's
/// sessions); 404 for users of other organisations, 409 when it would
/// leave the organisation without an admin. Returns the updated user.
pub fn change_role(
    conn: &mut DbConn,
    organisation_id: &str,
    user_id: &str,
    role: &str,
) -> Result<User, ServiceError> {
    if !ROLES.contains(&role) {
        return Err(ServiceError::invalid_field(
            "role",
            "must be admin or viewer",
        ));
    }
    crate::db::transaction(conn, |conn| {
        let user = User::find_by_id(conn, user_id)?
            .filter(|u| u.organisation_id == organisation_id)
            .ok_or_else(|| ServiceError::not_found("user"))?;
        if user.role == "admin"
            && role != "admin"
            && User::count_admins(conn, organisation_id)? <= 1
        {
            return Err(ServiceError::Conflict {
                code: "last_admin",
                message: "This is the organisation's only admin; make someone else admin first."
                    .into(),
            });
        }
        User::update_role(conn, &user.id, role)?;
        User::find_by_id(conn, &user.id)?
            .ok_or_else(|| ServiceError::internal("user vanished after update"))
    })
}

/// Stores a new password hash for a user (ending that user's sessions). The
/// caller has checked the current password and the policy, and hashed the
/// new one off the pool.
pub fn set_password_hash(
    conn: &mut DbConn,
    user_id: &str,
    password_hash: &str,
) -> Result<(), ServiceError> {
    User::update_password(conn, user_id, password_hash)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_need_twelve_characters() {
        assert!(check_new_password("password", "elevenchars").is_err());
        assert!(check_new_password("password", "twelve-chars").is_ok());
        // Characters, not bytes.
        assert!(check_new_password("password", "ééééééééééé").is_err());
        assert!(check_new_password("password", &"x".repeat(1025)).is_err());
    }
}
