//! The floor every layer stands on: time ([`clock`]), log lines ([`log`]) and the hiding of
//! secrets in both (`redact`).

pub mod clock;
pub mod log;
pub(crate) mod redact;
