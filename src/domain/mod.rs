//! The pure core: what the tool reasons about, with no I/O and no clock.

pub mod checkpoint;
pub mod delivery;
pub mod filter;
pub mod health;
pub(crate) mod hook;
pub mod plan;
pub mod receiver;
pub mod replay;
pub mod window;
