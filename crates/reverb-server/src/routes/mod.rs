//! One module per endpoint family.

pub mod health;
pub mod metrics;
pub mod metadata;
