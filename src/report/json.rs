//! JSON output. Addresses are hex strings; every document carries `schema_version`.

use serde_json::{json, Map, Value};

use super::{GoroutinesDoc, Overview, SCHEMA_VERSION};
use crate::runtime::goroutines::Frame;
use crate::runtime::Goroutine;

fn hex(v: u64) -> Value {
    Value::String(format!("{v:#x}"))
}

fn frames(fs: &[Frame]) -> Value {
    Value::Array(
        fs.iter()
            .map(|f| {
                json!({
                    "function": f.function, "file": f.file, "line": f.line,
                    "pc": hex(f.pc), "inlined": f.inlined,
                })
            })
            .collect(),
    )
}

fn goroutine(g: &Goroutine) -> Value {
    let labels: Map<String, Value> =
        g.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    json!({
        "id": g.id,
        "address": hex(g.addr),
        "status": g.status,
        "wait_reason": g.wait_reason,
        "wait_minutes": g.wait_minutes,
        "created_by": g.created_by,
        "parent_id": g.parent_id,
        "start_function": g.start_function,
        "thread_id": g.thread_id,
        "m_id": g.m_id,
        "locked_to_thread": g.locked_to_thread,
        "labels": labels,
        "runtime_internal": g.runtime_internal,
        "stack": {"lo": hex(g.stack.0), "hi": hex(g.stack.1)},
        "frames": frames(&g.frames),
        "unwind_error": g.unwind_error,
    })
}

pub fn goroutines(doc: &GoroutinesDoc) -> Value {
    let groups: Vec<Value> = doc
        .groups
        .iter()
        .map(|gr| {
            json!({
                "count": gr.count,
                "status": gr.status,
                "wait_reason": gr.wait_reason,
                "wait_minutes": {"min": gr.min_wait_minutes, "max": gr.max_wait_minutes},
                "locked_to_thread": gr.locked_to_thread,
                "runtime_internal": gr.runtime_internal,
                "created_by": gr.created_by,
                "ids": gr.ids,
                "frames": frames(&gr.frames),
            })
        })
        .collect();
    json!({
        "schema_version": SCHEMA_VERSION,
        "command": "goroutines",
        "now_estimate": doc.now_estimate,
        "warnings": doc.warnings,
        "goroutines": doc.goroutines.iter().map(goroutine).collect::<Vec<_>>(),
        "groups": groups,
    })
}

pub fn overview(o: &Overview) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        if let Some(Value::Object(c)) = m.get_mut("crash") {
            if let Some(Value::Number(a)) = c.get("exception_address").cloned() {
                c.insert("exception_address".into(), hex(a.as_u64().unwrap_or(0)));
            }
        }
        let by: Map<String, Value> =
            o.goroutines_by_status.iter().map(|(k, n)| (k.clone(), json!(n))).collect();
        m.insert("goroutines_by_status".into(), Value::Object(by));
        m.insert("schema_version".into(), json!(SCHEMA_VERSION));
        m.insert("command".into(), json!("overview"));
    }
    v
}
