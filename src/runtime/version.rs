//! Which Go releases gomortem reads.

use crate::{Error, Result};

/// Oldest and newest supported Go minor release (1.x).
pub const MIN_MINOR: u32 = 22;
pub const MAX_MINOR: u32 = 27;

/// Check that the executable's Go release is one we have layouts and semantics for.
pub fn check_supported(go_version: &str, version: (u32, u32, u32)) -> Result<()> {
    let (major, minor, _) = version;
    if major == 1 && (MIN_MINOR..=MAX_MINOR).contains(&minor) {
        return Ok(());
    }
    Err(Error::Unsupported(format!(
        "Go release {go_version} is not supported: gomortem reads Go 1.{MIN_MINOR} to 1.{MAX_MINOR}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range() {
        assert!(check_supported("go1.22.10", (1, 22, 10)).is_ok());
        assert!(check_supported("go1.27.3", (1, 27, 3)).is_ok());
        let e = check_supported("go1.20.1", (1, 20, 1)).unwrap_err().to_string();
        assert!(e.contains("go1.20.1") && e.contains("1.22"), "{e}");
        assert!(check_supported("go1.28.0", (1, 28, 0)).is_err());
    }
}
