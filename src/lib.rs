//! gomortem: post-mortem analysis of Go processes.
//!
//! The crate is layered; each layer speaks only to the one below it:
//!
//! 1. [`dump`]: dump readers (ELF core, Windows minidump): an address space of borrowed byte
//!    slices over memory-mapped files, threads, modules.
//! 2. [`exe`]: the executable (ELF/PE sections and symbols, DWARF, pclntab, build info).
//! 3. [`runtime`]: the Go runtime model: version, layouts, threads, goroutines, unwinding.
//! 4. [`analysis`]: analyses over the model (goroutine grouping, the heap analysis, and the
//!    diagnoses built on them).
//! 5. [`report`]: output: human text and versioned JSON.
//! 6. [`commands`]: one entry point per command (open, analyse, write the answer).
//!
//! [`bytes`] is a leaf: the bounds-checked reader every parser of layers 1 and 2 reads with.
//!
//! The CLI (`src/main.rs`) only parses arguments and calls into [`commands`].

pub mod analysis;
pub mod bytes;
pub mod commands;
pub mod dump;
pub mod error;
pub mod exe;
#[doc(hidden)]
pub mod fuzz;
pub mod report;
pub mod runtime;

pub use error::{Error, Result};

#[cfg(test)]
mod testutil;
