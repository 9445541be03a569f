//! The director's event stream: every state change (a monitor's transition, a quorum, an
//! apply, a drain, an override, drift, a control client) as one JSON object with `ts`
//! (RFC 3339, milliseconds) and `kind`, handed to whoever subscribed (`lvs.on_event`,
//! `lvsh attach --events`) in the order it happened.
//!
//! Delivery never waits: each subscriber has a bounded queue, and one that falls a whole
//! queue behind is dropped with a log line rather than slowing the director.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::mpsc::{Receiver, Sender, channel, error::TrySendError};

pub type Event = Arc<Value>;

struct Subscriber {
    name: String,
    tx: Sender<Event>,
}

static SUBSCRIBERS: Mutex<Vec<Subscriber>> = Mutex::new(Vec::new());
/// Events emitted since start, per kind (a metric; kinds are a fixed set in the code, and a
/// script's own).
static EMITTED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// A queue of the events from now on, `capacity` deep; `name` says whose in the log line
/// that tells it was dropped.
pub fn subscribe(name: &str, capacity: usize) -> Receiver<Event> {
    let (tx, rx) = channel(capacity.max(1));
    if let Ok(mut subs) = SUBSCRIBERS.lock() {
        subs.push(Subscriber {
            name: name.to_string(),
            tx,
        });
    }
    rx
}

/// How many events of each kind were emitted since start.
pub fn emitted() -> Vec<(String, u64)> {
    EMITTED
        .lock()
        .map(|m| m.iter().map(|(k, n)| (k.clone(), *n)).collect())
        .unwrap_or_default()
}

/// Emits an event of `kind` with `fields` (an object; anything else is kept as `value`).
pub fn emit(kind: &str, fields: Value) {
    emit_with(kind, || fields)
}

/// As `emit`, with the fields made only when somebody listens (an apply's summary of
/// thousands of operations is not worth making for nobody).
pub fn emit_with(kind: &str, fields: impl FnOnce() -> Value) {
    if let Ok(mut m) = EMITTED.lock() {
        match m.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                m.insert(kind.to_string(), 1);
            }
        }
    }
    let Ok(mut subs) = SUBSCRIBERS.lock() else {
        return;
    };
    if subs.is_empty() {
        return;
    }
    let ev = Arc::new(Value::Object(object(kind, fields())));
    let mut dropped = Vec::new();
    subs.retain(|s| match s.tx.try_send(ev.clone()) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            dropped.push(s.name.clone());
            false
        }
        Err(TrySendError::Closed(_)) => false,
    });
    drop(subs);
    for name in dropped {
        crate::log::warn(&format!(
            "events: {name} fell a whole queue behind and no longer receives events"
        ));
    }
}

fn object(kind: &str, fields: Value) -> Map<String, Value> {
    let mut obj = Map::new();
    let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    obj.insert("ts".into(), Value::String(ts));
    obj.insert("kind".into(), Value::String(kind.to_string()));
    match fields {
        Value::Object(m) => {
            for (k, v) in m {
                if k != "ts" && k != "kind" {
                    obj.insert(k, v);
                }
            }
        }
        Value::Null => {}
        other => {
            obj.insert("value".into(), other);
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn events_come_in_order_with_ts_and_kind_and_a_laggard_is_dropped() {
        let mut fast = super::subscribe("fast", 16);
        let mut slow = super::subscribe("slow", 1);
        super::emit("test_one", json!({"n": 1, "kind": "not this"}));
        super::emit("test_two", json!({"n": 2}));
        let a = fast.try_recv().unwrap();
        let b = fast.try_recv().unwrap();
        assert_eq!(a["kind"], "test_one");
        assert_eq!(a["n"], 1);
        assert_eq!(b["kind"], "test_two");
        let ts = a["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
        assert_eq!(slow.try_recv().unwrap()["n"], 1);
        // the second did not fit: the slow one was dropped, its queue closed
        assert!(slow.try_recv().is_err());
        super::emit("test_three", json!(null));
        assert_eq!(fast.try_recv().unwrap()["kind"], "test_three");
        assert!(matches!(
            slow.try_recv(),
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected)
        ));
    }
}
