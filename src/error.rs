//! One error type for the whole library. Errors are for what stops the analysis;
//! what can be skipped is reported as a soft warning (see `Dump::warnings`).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}: not a core file or minidump (unrecognised header)")]
    UnknownDumpFormat(PathBuf),
    #[error("{0}: not an ELF or PE executable")]
    UnknownExeFormat(PathBuf),
    /// The file is of the right kind but malformed (truncated, inconsistent).
    #[error("{what}: {msg}")]
    Malformed { what: String, msg: String },
    #[error("{0}")]
    Unsupported(String),
    /// The dump and the executable do not belong together.
    #[error("executable does not match the dump: {0}")]
    Mismatch(String),
    #[error("no executable: {0}")]
    NoExecutable(String),
    #[error("this is not a Go program: {0}")]
    NotGo(String),
    /// Memory the analysis needs is not in the dump nor in the executable.
    #[error("address {addr:#x} (+{len}) is not in the dump: {what}")]
    MissingMemory { addr: u64, len: u64, what: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn malformed(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Malformed { what: what.into(), msg: msg.into() }
    }
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
