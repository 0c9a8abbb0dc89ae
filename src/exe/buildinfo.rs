//! Go build info (`\xff Go buildinf:` blob) and the Go version / GOEXPERIMENTs it names.
//!
//! The blob is 16-byte aligned, in ELF section `.go.buildinfo` (PE: at the start of `.data`),
//! and survives `-ldflags='-s -w'`. Layout (Go ≥ 1.18): 14-byte magic, pointer size, flags,
//! padding to 32 bytes, then two uvarint-length-prefixed strings: the Go version and the
//! module info (framed by 16-byte sentinels).

use super::Image;
use crate::bytes::Cursor;
use crate::{Error, Result};

const MAGIC: &[u8] = b"\xff Go buildinf:";
/// Flag: the strings follow the header inline (Go ≥ 1.18), rather than behind pointers.
const FLAG_INLINE: u8 = 2;
const HEADER: usize = 32;

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
    /// Module replacements (`=>` lines): (replaced module path, (new path, new version)).
    /// The new version is empty for a local directory.
    pub replacements: Vec<(String, (String, String))>,
    /// Build settings (key, value): -ldflags, CGO_ENABLED, GOARCH, GOOS, vcs.*, ...
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    pub fn read(image: &Image) -> Result<BuildInfo> {
        let Some(blob) = find_blob(image) else {
            return Err(Error::NotGo(format!(
                "no Go build info in {}: not a Go executable, or built with a Go release older than 1.18",
                image.path.display()
            )));
        };
        Self::parse(blob)
    }

    /// Parse the build info blob (starting at its magic).
    pub fn parse(blob: &[u8]) -> Result<BuildInfo> {
        let bad = |m: &str| Error::malformed("Go build info", m);
        let flags = *blob.get(15).ok_or_else(|| bad("truncated header"))?;
        if flags & FLAG_INLINE == 0 {
            return Err(Error::Unsupported(
                "Go build info in the pre-1.18 pointer format: Go releases older than 1.18 are not supported"
                    .into(),
            ));
        }
        let mut rest = Cursor::at(blob, HEADER).map_err(|_| bad("truncated header"))?;
        let version = rest.uvarint_bytes().map_err(|e| bad(&format!("truncated Go version: {e}")))?;
        let modinfo = rest.uvarint_bytes().map_err(|e| bad(&format!("truncated module info: {e}")))?;
        let version = std::str::from_utf8(version).map_err(|_| bad("Go version is not UTF-8"))?;
        if !version.starts_with("go") && !version.starts_with("devel") {
            return Err(bad(&format!("unexpected Go version string {version:?}")));
        }
        // Strip the 16-byte sentinels around the module info.
        let modinfo = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
            &modinfo[16..modinfo.len() - 16]
        } else {
            modinfo
        };
        let mut bi = BuildInfo {
            go_version: version
                .split(" X:")
                .next()
                .and_then(|v| v.split("-X:").next())
                .unwrap_or(version)
                .to_string(),
            version: parse_go_version(version)
                .ok_or_else(|| bad(&format!("cannot parse Go version {version:?}")))?,
            experiments: version_experiments(version),
            ..Default::default()
        };
        bi.parse_modinfo(&String::from_utf8_lossy(modinfo));
        if let Some((_, v)) = bi.settings.iter().find(|(k, _)| k == "GOEXPERIMENT") {
            for e in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                if !bi.experiments.iter().any(|x| x == e) {
                    bi.experiments.push(e.to_string());
                }
            }
        }
        Ok(bi)
    }

    /// The value of a build setting, e.g. `setting("CGO_ENABLED")`.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether a GOEXPERIMENT was set (e.g. `has_experiment("nogreenteagc")`).
    pub fn has_experiment(&self, name: &str) -> bool {
        self.experiments.iter().any(|e| e == name)
    }

    fn parse_modinfo(&mut self, text: &str) {
        let mut last_dep: Option<String> = None;
        for line in text.lines() {
            let mut f = line.split('\t');
            let (tag, a, b) = (f.next().unwrap_or(""), f.next().unwrap_or(""), f.next().unwrap_or(""));
            match tag {
                "path" => self.path = a.to_string(),
                "mod" => {
                    self.main_module = Some((a.to_string(), b.to_string()));
                    last_dep = Some(a.to_string());
                }
                "dep" => {
                    self.deps.push((a.to_string(), b.to_string()));
                    last_dep = Some(a.to_string());
                }
                "=>" => {
                    if let Some(old) = last_dep.take() {
                        self.replacements.push((old, (a.to_string(), b.to_string())));
                    }
                }
                "build" => {
                    let kv = line.strip_prefix("build\t").unwrap_or("");
                    if let Some(kv) = parse_setting(kv) {
                        self.settings.push(kv);
                    }
                }
                _ => {}
            }
        }
    }
}

/// The blob, from its magic to the end of its section.
fn find_blob(image: &Image) -> Option<&[u8]> {
    let candidates = [".go.buildinfo", ".data", ".noptrdata"];
    for name in candidates {
        let Some(data) = image.section(name).and_then(|s| image.section_data(s)) else {
            continue;
        };
        let mut off = 0;
        while off + MAGIC.len() <= data.len() {
            if &data[off..off + MAGIC.len()] == MAGIC {
                return data.get(off..);
            }
            off += 16;
        }
    }
    None
}

/// Parse "go1.22.10", "go1.26rc1" (→ 1.26.0), "go1.26.10-X:nogreenteagc",
/// "go1.25.12 X:greenteagc", "devel go1.27-abcdef …" into (major, minor, patch).
pub fn parse_go_version(v: &str) -> Option<(u32, u32, u32)> {
    let v = v.strip_prefix("devel ").unwrap_or(v);
    let v = v.split([' ', '-', '+']).next()?.strip_prefix("go")?;
    let num = |s: Option<&str>| -> Option<u32> {
        let s = s?;
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        s[..end].parse().ok()
    };
    let mut parts = v.split('.');
    let major = num(parts.next())?;
    let minor_s = parts.next();
    let minor = num(minor_s)?;
    // A pre-release ("rc1", "beta2") has no patch number.
    let patch = if minor_s.is_some_and(|m| m.contains(|c: char| !c.is_ascii_digit())) {
        0
    } else {
        num(parts.next()).unwrap_or(0)
    };
    Some((major, minor, patch))
}

/// Experiments named by an ` X:a,b` / `-X:a,b` suffix of a version string.
fn version_experiments(v: &str) -> Vec<String> {
    match v.find("X:") {
        Some(i) => v[i + 2..]
            .split(|c: char| c == ',' || c.is_whitespace())
            .take_while(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    }
}

/// A `KEY=VALUE` build setting; key and value are Go-quoted when they hold special characters.
fn parse_setting(kv: &str) -> Option<(String, String)> {
    let (key, rest) = if kv.starts_with('"') {
        let (k, rest) = unquote(kv)?;
        (k, rest.strip_prefix('=')?)
    } else {
        let (k, v) = kv.split_once('=')?;
        (k.to_string(), v)
    };
    let value = if rest.starts_with('"') { unquote(rest)?.0 } else { rest.to_string() };
    Some((key, value))
}

/// Unquote a Go double-quoted string at the start of `s`; returns it and what follows.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                let hex = |chars: &mut std::iter::Skip<std::str::CharIndices>, n: usize| {
                    let h: String = chars.take(n).map(|(_, c)| c).collect();
                    u32::from_str_radix(&h, 16).ok().and_then(char::from_u32)
                };
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'v' => '\x0b',
                    'x' => hex(&mut chars, 2)?,
                    'u' => hex(&mut chars, 4)?,
                    'U' => hex(&mut chars, 8)?,
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exe::image::tests::fixture_exes;

    #[test]
    fn versions() {
        assert_eq!(parse_go_version("go1.22.10"), Some((1, 22, 10)));
        assert_eq!(parse_go_version("go1.27.3"), Some((1, 27, 3)));
        assert_eq!(parse_go_version("go1.26rc1"), Some((1, 26, 0)));
        assert_eq!(parse_go_version("go1.26.10-X:nogreenteagc"), Some((1, 26, 10)));
        assert_eq!(parse_go_version("go1.25.12 X:greenteagc"), Some((1, 25, 12)));
        assert_eq!(parse_go_version("go1.24"), Some((1, 24, 0)));
        assert_eq!(parse_go_version("devel go1.27-abc123 Mon"), Some((1, 27, 0)));
        assert_eq!(parse_go_version("1.22"), None);
        assert_eq!(version_experiments("go1.26.10-X:nogreenteagc,foo"), ["nogreenteagc", "foo"]);
        assert_eq!(version_experiments("go1.25.12 X:greenteagc"), ["greenteagc"]);
        assert!(version_experiments("go1.22.1").is_empty());
    }

    #[test]
    fn settings_quoting() {
        assert_eq!(parse_setting("GOOS=linux"), Some(("GOOS".into(), "linux".into())));
        assert_eq!(
            parse_setting("-ldflags=\"-s -w \\\"x\\\"\""),
            Some(("-ldflags".into(), "-s -w \"x\"".into()))
        );
        assert_eq!(parse_setting("\"a=b\"=c"), Some(("a=b".into(), "c".into())));
        assert_eq!(parse_setting("noequals"), None);
    }

    fn blob(version: &str, modinfo: &str) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[8, FLAG_INLINE]);
        b.resize(HEADER, 0);
        for s in [version, modinfo] {
            assert!(s.len() < 128);
            b.push(s.len() as u8);
            b.extend_from_slice(s.as_bytes());
        }
        b
    }

    #[test]
    fn malformed_blobs() {
        assert!(BuildInfo::parse(&MAGIC[..10]).is_err());
        let b = blob("go1.26.6", "");
        assert!(BuildInfo::parse(&b[..b.len() - 3]).is_err());
        assert!(BuildInfo::parse(&blob("hello", "")).is_err());
        let mut old = blob("go1.16", "");
        old[15] = 0;
        assert!(matches!(BuildInfo::parse(&old), Err(Error::Unsupported(_))));
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&[8, FLAG_INLINE]);
        huge.resize(HEADER, 0);
        huge.extend_from_slice(&[0xff; 12]);
        assert!(BuildInfo::parse(&huge).is_err());
    }

    #[test]
    fn fixtures() {
        for (ver, plat, path) in fixture_exes() {
            let image = Image::open(&path).unwrap();
            let bi = BuildInfo::read(&image).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(bi.go_version.starts_with("go1."), "{ver}/{plat}: {}", bi.go_version);
            if let Some(v) = ver.strip_prefix("go") {
                assert_eq!(bi.go_version, format!("go{v}"), "{}", path.display());
                let want: Vec<u32> = v.split('.').map(|x| x.parse().unwrap()).collect();
                assert_eq!(bi.version, (want[0], want[1], want[2]));
            }
            assert!(!bi.path.is_empty(), "{ver}/{plat}: no main path");
            let (os, arch) = (bi.setting("GOOS").unwrap(), bi.setting("GOARCH").unwrap());
            assert!(plat.contains(os) && plat.contains(arch), "{plat} vs {os}/{arch}");
        }
    }
}
