//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod compare;
pub mod facts;
pub mod findings;
pub mod oracle;
