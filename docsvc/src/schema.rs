//! Stand-ins that describe, in the OpenAPI document, types the API takes from other crates
//! (`policies::Level`, the account status) as the API spells them. They sit at the ground so
//! that the services' own request and response types can name them without importing HTTP.

use serde::Serialize;

/// Classification levels (sifat), as the API spells them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LevelDoc {
    Biasa,
    Terbatas,
    Rahasia,
    SangatRahasia,
}

/// Account status, as the API spells it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusDoc {
    Active,
    Suspended,
    Revoked,
}
