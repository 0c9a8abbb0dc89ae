//! Layer 4: analyses over the runtime model.

pub mod group;
pub mod graph;
pub mod dominators;
pub mod typing;
