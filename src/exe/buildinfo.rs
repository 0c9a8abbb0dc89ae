//! Go build info (`\xff Go buildinf:` blob) and the Go version / GOEXPERIMENTs it names.
//! (to be written)

use super::Image;
use crate::Result;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct BuildInfo {
    /// e.g. "go1.26.6"
    pub go_version: String,
    /// (major, minor, patch), e.g. (1, 26, 6)
    pub version: (u32, u32, u32),
    /// GOEXPERIMENT names from the build settings (e.g. ["nogreenteagc"]); empty if defaults.
    pub experiments: Vec<String>,
    /// Main package path, e.g. "command-line-arguments" or "example.com/x/cmd/y".
    pub path: String,
    /// The main module path and version, if any.
    pub main_module: Option<(String, String)>,
    /// Dependency modules (path, version).
    pub deps: Vec<(String, String)>,
    /// Build settings (key, value): -ldflags, CGO_ENABLED, GOARCH, GOOS, vcs.*, ...
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    pub fn read(image: &Image) -> Result<BuildInfo> {
        let _ = image;
        todo!("exe::buildinfo::BuildInfo::read")
    }
}
