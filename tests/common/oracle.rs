//! Parser of the goroutine tracebacks the Go runtime prints: the test oracle.
//!
//! Two kinds of text are understood:
//! * a crash under `GOTRACEBACK=crash` (or `all`/`system`): "SIGABRT: abort" / "panic: …" /
//!   "fatal error: …", then goroutine blocks with `gp=`/`m=`, then, after "-----" separators, what
//!   every other thread printed (its g0 stack as "goroutine 0 … [idle]:", and its running
//!   goroutine again, this time with frames); register dumps are skipped;
//! * `runtime.Stack(buf, true)`: the same blocks without `gp=`/`m=` and without runtime frames.
//!
//! Header forms (runtime/traceback.go `goroutineheader`), Go 1.22–1.27:
//! `goroutine 7 gp=0x… m=3 mp=0x… [chan receive (leaked), 2 minutes, locked to thread]:`,
//! with pprof labels either inside the brackets (1.26: `[select labels:{"k": "v"}]:`) or after them
//! (1.27: `[select] {k: v}:`).

use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Function name exactly as printed, without the argument list.
    pub function: String,
    pub file: String,
    pub line: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Goroutine {
    /// 0 for a thread's g0/gsignal stack ("goroutine 0 … [idle]:").
    pub id: u64,
    /// What is in `[...]` before any ", N minutes": "running", "chan receive", "select (no cases)",
    /// "sync.Mutex.Lock", "chan send (leaked)" …
    pub status: String,
    /// 0 if not printed.
    pub minutes: u64,
    pub locked_to_thread: bool,
    /// Innermost first, as printed.
    pub frames: Vec<Frame>,
    /// The runtime elided frames ("...N frames elided...", "...additional frames elided...").
    pub elided: bool,
    /// "goroutine running on other thread; stack unavailable", and never printed with frames.
    pub stack_unavailable: bool,
    /// Creator function, "in goroutine N", and where.
    pub created_by: Option<(String, Option<u64>, Frame)>,
    /// `m=N` when printed (None for `m=nil` or when absent).
    pub m: Option<i64>,
    /// pprof labels when printed (GODEBUG=tracebacklabels=1), in printed order.
    pub labels: Vec<(String, String)>,
}

/// Parse every goroutine block of a traceback text. A goroutine printed twice (a "stack
/// unavailable" placeholder, then with frames by its own thread) gives one entry, with frames;
/// goroutine 0 blocks (one per thread) are all kept.
pub fn parse(text: &str) -> Vec<Goroutine> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out: Vec<Goroutine> = Vec::new();
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(mut g) = parse_header(lines[i]) else {
            i += 1;
            continue;
        };
        i += 1;
        // After "[originating from goroutine N]:" come ancestors' frames (tracebackancestors).
        let mut in_ancestor = false;
        while let Some(&line) = lines.get(i) {
            if line.is_empty() || line == "-----" || parse_header(line).is_some() {
                break;
            }
            let next_loc = lines.get(i + 1).and_then(|l| l.strip_prefix('\t'));
            if line == "\tgoroutine running on other thread; stack unavailable" {
                g.stack_unavailable = true;
            } else if line.starts_with("[originating from goroutine ") {
                in_ancestor = true;
            } else if line.starts_with("...") && line.ends_with(" elided...") {
                g.elided |= !in_ancestor;
            } else if let Some(rest) = line.strip_prefix("created by ") {
                let (function, parent) = match rest.split_once(" in goroutine ") {
                    Some((f, n)) => (f, n.trim().parse().ok()),
                    None => (rest, None),
                };
                let (file, line) = next_loc.map(parse_location).unwrap_or_default();
                if !in_ancestor {
                    g.created_by = Some((
                        function.to_string(),
                        parent,
                        Frame { function: function.to_string(), file, line },
                    ));
                }
                i += usize::from(next_loc.is_some());
            } else if let (Some(loc), false, Some(open)) = (next_loc, line.starts_with('\t'), line.rfind('('))
            {
                if line.ends_with(')') && !in_ancestor {
                    let (file, l) = parse_location(loc);
                    g.frames.push(Frame { function: line[..open].to_string(), file, line: l });
                }
                i += 1;
            }
            i += 1;
        }
        match seen.get(&g.id) {
            Some(&k) if g.id != 0 => merge(&mut out[k], g),
            _ => {
                seen.insert(g.id, out.len());
                out.push(g);
            }
        }
    }
    out
}

/// What a crash traceback says before its first goroutine: the lines naming the failure
/// (`panic: …` and nested panics, `fatal error: …`, `SIGABRT: abort`) and those printed right
/// after them (`[signal SIGSEGV: …]`, `PC=… m=… sigcode=…`), up to the first empty line. The
/// runtime's diagnostics printed before the failure (`runtime: out of memory: cannot allocate
/// …`, `runtime: goroutine stack exceeds …`) are left out.
pub fn crash_header(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .skip_while(|l| l.starts_with("runtime: "))
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Fold a second printing of the same goroutine into the first.
fn merge(first: &mut Goroutine, again: Goroutine) {
    if first.frames.is_empty() && !again.frames.is_empty() {
        first.frames = again.frames;
        first.elided = again.elided;
        first.stack_unavailable = false;
    }
    first.m = first.m.or(again.m);
    if first.created_by.is_none() {
        first.created_by = again.created_by;
    }
    if first.labels.is_empty() {
        first.labels = again.labels;
    }
}

/// "\t/path/file.go:123 +0x1d fp=0x… sp=0x… pc=0x…" without the tab → (file, line).
fn parse_location(loc: &str) -> (String, u32) {
    let end = [" +0x", " fp="].iter().filter_map(|m| loc.find(m)).min().unwrap_or(loc.len());
    match loc[..end].rsplit_once(':') {
        Some((file, line)) => (file.to_string(), line.trim().parse().unwrap_or(0)),
        None => (loc[..end].to_string(), 0),
    }
}

fn parse_header(line: &str) -> Option<Goroutine> {
    let rest = line.strip_prefix("goroutine ")?.strip_suffix(':')?;
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let id: u64 = rest[..digits].parse().ok()?;
    let rest = &rest[digits..];
    let open = rest.find('[')?;
    let m = rest[..open].split_whitespace().find_map(|t| t.strip_prefix("m=")).and_then(|v| v.parse().ok());
    let inside = &rest[open + 1..];
    // 1.26 prints labels inside the brackets, 1.27 after them.
    let (attrs, labels) = match inside.find(" labels:{") {
        Some(k) => (&inside[..k], parse_labels(&inside[k + " labels:".len()..])),
        None => {
            let close = inside.find(']')?;
            (&inside[..close], parse_labels(inside[close + 1..].trim_start()))
        }
    };
    let mut parts = attrs.split(", ");
    let mut g = Goroutine {
        id,
        status: parts.next()?.to_string(),
        minutes: 0,
        locked_to_thread: false,
        frames: Vec::new(),
        elided: false,
        stack_unavailable: false,
        created_by: None,
        m,
        labels,
    };
    for p in parts {
        if let Some(n) = p.strip_suffix(" minutes") {
            g.minutes = n.parse().unwrap_or(0);
        } else if p == "locked to thread" {
            g.locked_to_thread = true;
        }
    }
    Some(g)
}

/// `{key: value, "k 2": "v"}` (keys and values quoted when they need it) → pairs.
fn parse_labels(s: &str) -> Vec<(String, String)> {
    let Some(mut s) = s.strip_prefix('{') else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Some((key, rest)) = label_token(s, ':') {
        let Some((value, rest)) = label_token(rest.trim_start(), ',') else {
            break;
        };
        out.push((key, value));
        s = rest.trim_start();
    }
    out
}

/// One key or value, quoted or not, and the text after its terminator (`stop` or '}').
fn label_token(s: &str, stop: char) -> Option<(String, &str)> {
    if let Some(q) = s.strip_prefix('"') {
        let mut v = String::new();
        let mut chars = q.char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '"' => {
                    let after = q[k + 1..].trim_start();
                    let after = after.strip_prefix(stop).or_else(|| after.strip_prefix('}'))?;
                    return Some((v, after));
                }
                '\\' => match chars.next()?.1 {
                    'n' => v.push('\n'),
                    't' => v.push('\t'),
                    e => v.push(e),
                },
                c => v.push(c),
            }
        }
        None
    } else {
        let end = s.find([stop, '}'])?;
        Some((s[..end].to_string(), &s[end + 1..]))
    }
}
