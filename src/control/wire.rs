//! The control socket's protocol: JSON messages in frames of a 4-byte big-endian length and
//! the message, no frame over `MAX_FRAME`. A client opens with `Hello` and its version; the
//! daemon answers with its own `Hello` (or `Refused`) before anything else.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;

/// The most a message may hold: a chunk, a piece of output, a list of completions.
pub const MAX_FRAME: usize = 1 << 20;

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Request {
    Hello {
        version: u32,
    },
    /// Runs a chunk in the daemon's Lua state; `budget` is what it may run without yielding.
    /// With `values` (the REPL) an expression is taken as one and what it returns printed,
    /// as at lvsh's own prompt; without (`-e`) it is a chunk as `lvsh -e` runs it.
    Run {
        chunk: String,
        budget: Option<f64>,
        #[serde(default)]
        values: bool,
    },
    /// Interrupts the chunk running for this client (Ctrl-C).
    Interrupt,
    Complete {
        word: String,
    },
    /// Sends the daemon's log lines from now on.
    Follow,
    /// Sends the daemon's events from now on.
    Events,
}

/// What the daemon answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Reply {
    Hello {
        version: u32,
        name: String,
        script: String,
        pid: i32,
        /// Seconds since the Unix epoch the director started at.
        started: f64,
    },
    Refused {
        why: String,
    },
    Out {
        text: String,
    },
    Err {
        text: String,
    },
    /// The chunk ended: with the values it returned as the REPL prints them, or its error.
    Done {
        ok: bool,
        text: String,
    },
    Completions {
        words: Vec<String>,
    },
    Log {
        line: String,
    },
    Event {
        event: serde_json::Value,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the other side closed the connection")]
    Closed,
    #[error("a message of {0} bytes is over the limit of {MAX_FRAME}")]
    TooLong(usize),
    #[error("not a message of this protocol: {0}")]
    Bad(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The frame of `msg`, refused when it would be over the limit.
pub fn encode(msg: &impl Serialize) -> Result<Vec<u8>, WireError> {
    let body = serde_json::to_vec(msg).map_err(|e| WireError::Bad(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(WireError::TooLong(body.len()));
    }
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

pub fn write(w: &mut impl Write, msg: &impl Serialize) -> Result<(), WireError> {
    w.write_all(&encode(msg)?)?;
    Ok(w.flush()?)
}

/// Reads one message; a length over the limit is refused before anything is read of it.
pub fn read<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> Result<T, WireError> {
    let mut len = [0u8; 4];
    if let Err(e) = r.read_exact(&mut len) {
        return Err(match e.kind() {
            std::io::ErrorKind::UnexpectedEof => WireError::Closed,
            _ => WireError::Io(e),
        });
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(WireError::TooLong(n));
    }
    let mut body = vec![0u8; n];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => WireError::Closed,
        _ => WireError::Io(e),
    })?;
    serde_json::from_slice(&body).map_err(|e| WireError::Bad(e.to_string()))
}

/// Splits output into pieces that each fit a frame (on character boundaries).
pub fn pieces(text: &str) -> impl Iterator<Item = &str> {
    const PIECE: usize = 256 * 1024;
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut cut = rest.len().min(PIECE);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        rest = tail;
        Some(head)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_is_a_length_and_json() {
        let f = encode(&Request::Interrupt).unwrap();
        assert_eq!(&f[..4], &[0, 0, 0, 17]);
        assert_eq!(&f[4..], br#"{"t":"interrupt"}"#);
        let back: Request = read(&mut &f[..]).unwrap();
        assert_eq!(back, Request::Interrupt);
    }

    #[test]
    fn messages_round_trip() {
        let msgs = vec![
            Reply::Hello {
                version: VERSION,
                name: "d".into(),
                script: "/etc/d.lua".into(),
                pid: 4,
                started: 1.5,
            },
            Reply::Done {
                ok: false,
                text: "boom".into(),
            },
            Reply::Event {
                event: serde_json::json!({"kind": "x"}),
            },
        ];
        for m in msgs {
            let f = encode(&m).unwrap();
            assert_eq!(read::<Reply>(&mut &f[..]).unwrap(), m);
        }
    }

    #[test]
    fn oversized_and_broken_frames_are_refused() {
        let huge = Request::Run {
            chunk: "x".repeat(MAX_FRAME),
            budget: None,
            values: false,
        };
        assert!(matches!(encode(&huge), Err(WireError::TooLong(_))));
        let mut claim = (MAX_FRAME as u32 + 1).to_be_bytes().to_vec();
        claim.extend_from_slice(b"{}");
        assert!(matches!(
            read::<Request>(&mut &claim[..]),
            Err(WireError::TooLong(_))
        ));
        let bad = [0, 0, 0, 2, b'{', b'x'];
        assert!(matches!(read::<Request>(&mut &bad[..]), Err(WireError::Bad(_))));
        assert!(matches!(
            read::<Request>(&mut &[0u8, 0][..]),
            Err(WireError::Closed)
        ));
        let unknown = [&[0u8, 0, 0, 12][..], br#"{"t":"nope"}"#].concat();
        assert!(matches!(
            read::<Request>(&mut &unknown[..]),
            Err(WireError::Bad(_))
        ));
    }

    #[test]
    fn output_is_cut_into_frames_on_character_boundaries() {
        let text = "é".repeat(200_000);
        let parts: Vec<&str> = pieces(&text).collect();
        assert!(parts.len() > 1);
        assert_eq!(parts.concat(), text);
        assert!(
            parts
                .iter()
                .all(|p| encode(&Reply::Out { text: p.to_string() }).is_ok())
        );
    }
}
