//! What scripts hand lvsh, as plain data: the bindings turn a script's value into a [`Value`]
//! once, and the layers below read it strictly. Unknown fields and wrong types are errors
//! that name the field and the value, raised before anything reaches the kernel.

use std::time::Duration;

use super::SpecError;

/// A value a script gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    /// A string that is not UTF-8 (a datagram to send, say).
    Bytes(Vec<u8>),
    /// A sequence (1..n).
    List(Vec<Value>),
    /// Named fields.
    Map(Vec<(String, Value)>),
    /// Something only the script's language has (a function, userdata): its type's name.
    Other(&'static str),
}

impl Value {
    /// The text of a string, UTF-8 or not.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// A value as an error message shows it.
pub fn show(v: &Value) -> String {
    match v {
        Value::Str(_) | Value::Bytes(_) => format!("\"{}\"", v.text().unwrap_or_default()),
        Value::Int(i) => i.to_string(),
        Value::Num(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Nil => "nil".into(),
        Value::List(_) | Value::Map(_) => "(table)".into(),
        Value::Other(t) => format!("({t})"),
    }
}

/// The error for a bad field: its name, the value given, and what it must be.
pub fn bad(field: &str, v: &Value, reason: &str) -> SpecError {
    SpecError {
        field: field.into(),
        value: show(v),
        reason: reason.into(),
    }
}

pub fn to_int(name: &str, v: &Value) -> Result<Option<i64>, SpecError> {
    match v {
        Value::Nil => Ok(None),
        Value::Int(i) => Ok(Some(*i)),
        Value::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(Some(*n as i64)),
        other => Err(bad(name, other, "must be an integer")),
    }
}

/// An HTTP header's value: text, or a number written as text.
pub fn header_value(v: &Value) -> Result<String, SpecError> {
    match v {
        Value::Int(i) => Ok(i.to_string()),
        Value::Num(n) => Ok(n.to_string()),
        v => v
            .text()
            .ok_or_else(|| bad("headers", v, "must be a table of strings")),
    }
}

/// The most headers a request takes, and the longest name and value: bounds an HTTP
/// client must be given up front (it refuses more by panicking).
pub const MAX_HEADERS: usize = 64;
const MAX_HEADER_NAME: usize = 256;
const MAX_HEADER_VALUE: usize = 8192;

/// `headers = {["X-Name"] = "value", ...}`, checked against what HTTP allows.
pub fn read_headers(v: &Value) -> Result<Vec<(String, String)>, SpecError> {
    let hs = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::List(l) if l.is_empty() => return Ok(Vec::new()),
        Value::Map(hs) => hs,
        other => return Err(bad("headers", other, "must be a table of name = value")),
    };
    if hs.len() > MAX_HEADERS {
        return Err(SpecError {
            field: "headers".into(),
            value: String::new(),
            reason: format!("{} headers are too many (at most {MAX_HEADERS})", hs.len()),
        });
    }
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let mut out = Vec::with_capacity(hs.len());
    for (k, v) in hs {
        if k.is_empty() || k.len() > MAX_HEADER_NAME || !k.bytes().all(token) {
            return Err(bad(
                "headers",
                &Value::Str(k.chars().take(40).collect()),
                &format!("is not a header name (1 to {MAX_HEADER_NAME} letters, digits or !#$%&'*+-.^_`|~)"),
            ));
        }
        let value = header_value(v)?;
        if value.len() > MAX_HEADER_VALUE || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(bad(
                &format!("headers.{k}"),
                &Value::Str(value.chars().take(40).flat_map(char::escape_default).collect()),
                &format!("must be one line of at most {MAX_HEADER_VALUE} bytes"),
            ));
        }
        out.push((k.clone(), value));
    }
    Ok(out)
}

/// The fields of a table a call takes, checked against the ones it understands.
#[derive(Debug, Clone, Default)]
pub struct Args {
    fields: Vec<(String, Value)>,
}

const NIL: Value = Value::Nil;

impl Args {
    /// `fields` as the script gave them, in its order. `allowed` are the fields the call
    /// understands; `ignored` are fields lvsh itself puts in the objects it returns (stats,
    /// servers, ...), so those objects can be passed back.
    pub fn new(
        what: &str,
        fields: Vec<(String, Value)>,
        allowed: &[&str],
        ignored: &[&str],
    ) -> Result<Args, SpecError> {
        let mut kept = Vec::with_capacity(fields.len());
        for (name, v) in fields {
            if allowed.contains(&name.as_str()) {
                kept.push((name, v));
            } else if !ignored.contains(&name.as_str()) {
                return Err(unknown(what, &name, &v, allowed));
            }
        }
        Ok(Args { fields: kept })
    }

    /// The fields of a map; anything else is an error naming `what` and saying `expected`.
    pub fn of(
        what: &str,
        v: &Value,
        allowed: &[&str],
        ignored: &[&str],
        expected: &str,
    ) -> Result<Args, SpecError> {
        match v {
            Value::Map(m) => Args::new(what, m.clone(), allowed, ignored),
            // an empty table reads as an empty list
            Value::List(l) if l.is_empty() => Ok(Args::default()),
            other => Err(bad(what, other, expected)),
        }
    }

    pub fn raw(&self, name: &str) -> &Value {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or(&NIL, |(_, v)| v)
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, SpecError> {
        match self.raw(name) {
            Value::Nil => Ok(None),
            Value::Str(s) => Ok(Some(s.clone())),
            v @ Value::Bytes(_) => Err(bad(name, v, "is not UTF-8")),
            other => Err(bad(name, other, "must be a string")),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, SpecError> {
        to_int(name, self.raw(name))
    }

    /// A number of seconds (integer or float), 0 or more.
    pub fn seconds(&self, name: &str) -> Result<Option<Duration>, SpecError> {
        let v = self.raw(name);
        let n = match v {
            Value::Nil => return Ok(None),
            Value::Int(i) => *i as f64,
            Value::Num(n) => *n,
            other => return Err(bad(name, other, "must be a number of seconds")),
        };
        if n.is_finite() && (0.0..1e9).contains(&n) {
            Ok(Some(Duration::from_secs_f64(n)))
        } else {
            Err(bad(name, v, "must be a number of seconds, 0 or more"))
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, SpecError> {
        match self.raw(name) {
            Value::Nil => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            other => Err(bad(name, other, "must be true or false")),
        }
    }

    /// A list of strings, or one comma-separated string.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, SpecError> {
        match self.raw(name) {
            Value::Nil => Ok(None),
            v @ (Value::Str(_) | Value::Bytes(_)) => Ok(Some(
                v.text()
                    .unwrap_or_default()
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect(),
            )),
            Value::List(l) => l
                .iter()
                .map(|v| v.text().ok_or_else(|| bad(name, v, "must be a list of strings")))
                .collect::<Result<_, _>>()
                .map(Some),
            Value::Map(m) if m.is_empty() => Ok(Some(Vec::new())),
            other => Err(bad(name, other, "must be a list of strings")),
        }
    }
}

/// The error for a field the call does not know, listing those it does.
pub fn unknown(what: &str, name: &str, v: &Value, allowed: &[&str]) -> SpecError {
    let hint = format!("unknown field '{name}' (known: {})", allowed.join(", "));
    SpecError {
        field: what.into(),
        value: String::new(),
        reason: format!("{hint}; got {name} = {}", show(v)),
    }
}
