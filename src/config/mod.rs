//! The command line and the settings.

pub mod inputs;
pub mod settings;
