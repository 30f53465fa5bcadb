//! Pure domain types and rules shared by every layer: no diesel, no actix.

pub mod connection;
pub mod sku;

/// The names the database and the API use for an enum's values, and back.
macro_rules! names {
    ($t:ty { $($v:ident => $n:literal),+ $(,)? }) => {
        impl $t {
            /// The name stored and shown.
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $n),+ }
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.as_str().to_string()
            }
        }
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<$t, String> {
                match s.as_str() {
                    $($n => Ok(<$t>::$v),)+
                    other => Err(format!("unknown {}: {other}", stringify!($t))),
                }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use names;

/// Whether an account is a master (sums its children) or a child (holds one
/// connection's data).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Sums its children's stock and sales and plans on the total.
    Master,
    /// Holds the data of one connection.
    Child,
}

names!(AccountKind {
    Master => "master",
    Child => "child",
});
