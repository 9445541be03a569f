//! Plain data as lvsh hands it to scripts: records of named fields (text, numbers, flags,
//! lists of names, nested records). The layers below the bindings say what an object shows
//! (a service, an operation, a monitor's event); the bindings turn records into Lua tables
//! in one place.

/// A field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    Text(String),
    Name(&'static str),
    Int(i64),
    Count(u64),
    Number(f64),
    Flag(bool),
    /// A list of names (kept a list even when empty: a JSON array).
    Names(Vec<&'static str>),
    Record(Record),
    /// Left out.
    Nil,
}

/// Named fields, in the order they are shown.
pub type Record = Vec<(&'static str, Field)>;

impl From<String> for Field {
    fn from(s: String) -> Field {
        Field::Text(s)
    }
}

impl From<&'static str> for Field {
    fn from(s: &'static str) -> Field {
        Field::Name(s)
    }
}

impl From<bool> for Field {
    fn from(b: bool) -> Field {
        Field::Flag(b)
    }
}

impl From<u32> for Field {
    fn from(n: u32) -> Field {
        Field::Int(i64::from(n))
    }
}

impl From<u16> for Field {
    fn from(n: u16) -> Field {
        Field::Int(i64::from(n))
    }
}

impl From<u64> for Field {
    fn from(n: u64) -> Field {
        Field::Count(n)
    }
}

impl From<u8> for Field {
    fn from(n: u8) -> Field {
        Field::Int(i64::from(n))
    }
}
