//! What every livepatch-autopilot function shares: the domain, events, AWS adapters,
//! notifications, settings and telemetry.

pub use function::Clients;
pub use livepatch_domain as domain;

pub mod aws;
pub mod config;
pub mod events;
pub mod function;
pub mod manual;
pub mod notify;
pub mod telemetry;
