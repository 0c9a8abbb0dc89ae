//! Function names as the runtime's traceback prints them.

/// `runtime.funcNameForPrint`: the shape arguments of a generic function become `[...]`,
/// and `runtime.gopanic` prints as `panic`.
pub fn for_print(name: &str) -> String {
    if name == "runtime.gopanic" {
        return "panic".to_string();
    }
    let Some(i) = name.find('[') else { return name.to_string() };
    match name.rfind(']') {
        Some(j) if j > i => format!("{}[...]{}", &name[..i], &name[j + 1..]),
        _ => name.to_string(),
    }
}

/// Is this a frame the runtime hides at the default GOTRACEBACK level (`showfuncinfo`)?
/// Runtime-internal functions are hidden, exported runtime functions are not.
pub fn is_runtime_frame(name: &str) -> bool {
    if !name.contains('.') {
        return true;
    }
    let Some(rest) = name.strip_prefix("runtime.") else { return false };
    if name == "runtime.gopanic" {
        return false;
    }
    !is_exported_runtime(rest)
}

/// `runtime.isExportedRuntime`, on the name without its `runtime.` prefix.
fn is_exported_runtime(rest: &str) -> bool {
    // Receiver type, if any: runtime.(*Func).Entry
    let (rcvr, func) = match rest.rfind('.') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => ("", rest),
    };
    let exported = |s: &str| s.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    if !rcvr.is_empty() {
        let r = rcvr.trim_start_matches("(*").trim_end_matches(')');
        if !exported(r) {
            return false;
        }
    }
    exported(func)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_names() {
        assert_eq!(for_print("main.Map[go.shape.int,go.shape.string]"), "main.Map[...]");
        assert_eq!(for_print("main.(*Box[go.shape.int]).Get"), "main.(*Box[...]).Get");
        assert_eq!(for_print("runtime.gopanic"), "panic");
        assert_eq!(for_print("main.main.func1"), "main.main.func1");
    }

    #[test]
    fn runtime_frames() {
        assert!(is_runtime_frame("runtime.gopark"));
        assert!(!is_runtime_frame("runtime.Goexit"));
        assert!(!is_runtime_frame("runtime.(*Func).Name"));
        assert!(is_runtime_frame("runtime.(*mheap).alloc"));
        assert!(!is_runtime_frame("main.main"));
        assert!(!is_runtime_frame("runtime.gopanic"));
    }
}
