//! Layer 4: analyses over the runtime model.

pub mod group;
