//! Models own their queries: each file holds a table's structs
//! (`Thing` to read, `NewThing` to insert, `ThingChanges` to update) and the
//! functions that read and write it.

pub mod account;
pub mod api_key;
pub mod calibration;
pub mod compat;
pub mod demand;
pub mod feeds;
pub mod forecast_edit;
pub mod import_run;
pub mod organisation;
pub mod planning;
pub mod records;
pub mod setting;
pub mod sku_settings;
pub mod stock_orders;
pub mod supply;
pub mod user;

pub use account::{Account, AccountChanges, NewAccount};
pub use api_key::{ApiKey, NewApiKey};
pub use organisation::Organisation;
pub use user::{NewUser, User};
