//! Reports: the value ([`model`]), how it is built ([`build`]), and renderers that only present it.

pub mod build;
pub mod model;
pub mod render;
pub mod seen;
pub mod time;
pub mod values;

pub use build::Builder;
pub use model::{FlowReport, Report, SCHEMA};
