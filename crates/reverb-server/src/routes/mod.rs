//! One module per endpoint family.

pub mod callbacks;
pub mod events;
pub mod health;
pub mod metadata;
pub mod metrics;
pub mod notifications;
