//! Grouping goroutines with identical stacks and state, so that 100,000 leaked goroutines
//! read as one line (like panicparse's buckets).

use std::collections::HashMap;

use serde::Serialize;

use crate::runtime::goroutines::{Frame, Location};
use crate::runtime::{Goroutine, Status};

/// Goroutines that share status, wait reason, stack (function, file, line of every frame),
/// creator and thread lock.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub count: usize,
    pub status: Status,
    pub wait_reason: Option<String>,
    pub min_wait_minutes: u64,
    pub max_wait_minutes: u64,
    pub locked_to_thread: bool,
    pub runtime_internal: bool,
    pub created_by: Option<Location>,
    /// Ids of the members, ascending.
    pub ids: Vec<u64>,
    /// The shared stack (pcs of the first member).
    pub frames: Vec<Frame>,
}

#[derive(PartialEq, Eq, Hash)]
struct Key<'a> {
    status: Status,
    wait_reason: Option<&'a str>,
    locked: bool,
    created_by: Option<&'a str>,
    frames: Vec<(&'a str, &'a str, u32)>,
}

/// Group goroutines; the largest groups first, then by lowest id.
pub fn group(gs: &[Goroutine]) -> Vec<Group> {
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for g in gs {
        let key = Key {
            status: g.status,
            wait_reason: g.wait_reason.as_deref(),
            locked: g.locked_to_thread,
            created_by: g.created_by.as_ref().map(|c| c.function.as_str()),
            frames: g.frames.iter().map(|f| (f.function.as_str(), f.file.as_str(), f.line)).collect(),
        };
        match index.get(&key) {
            Some(&i) => {
                let gr = &mut groups[i];
                gr.count += 1;
                gr.ids.push(g.id);
                gr.min_wait_minutes = gr.min_wait_minutes.min(g.wait_minutes);
                gr.max_wait_minutes = gr.max_wait_minutes.max(g.wait_minutes);
            }
            None => {
                index.insert(key, groups.len());
                groups.push(Group {
                    count: 1,
                    status: g.status,
                    wait_reason: g.wait_reason.clone(),
                    min_wait_minutes: g.wait_minutes,
                    max_wait_minutes: g.wait_minutes,
                    locked_to_thread: g.locked_to_thread,
                    runtime_internal: g.runtime_internal,
                    created_by: g.created_by.clone(),
                    ids: vec![g.id],
                    frames: g.frames.clone(),
                });
            }
        }
    }
    for gr in &mut groups {
        gr.ids.sort_unstable();
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.ids[0].cmp(&b.ids[0])));
    groups
}
