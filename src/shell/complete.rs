//! Tab completion of globals and table fields, asked of the Lua state itself. The line editor
//! runs on its own thread and the Lua state belongs to the event loop's, so a completion is a
//! request sent to the shell and answered from there.

use std::sync::mpsc;
use std::time::Duration;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

pub struct CompletionRequest {
    pub word: String,
    reply: mpsc::Sender<Vec<String>>,
}

impl CompletionRequest {
    pub fn answer(self, candidates: Vec<String>) {
        let _ = self.reply.send(candidates);
    }
}

type Ask = Box<dyn Fn(CompletionRequest) -> bool + Send>;

pub struct LuaHelper {
    ask: Ask,
}

impl LuaHelper {
    pub fn new(ask: impl Fn(CompletionRequest) -> bool + Send + 'static) -> LuaHelper {
        LuaHelper { ask: Box::new(ask) }
    }

    fn candidates(&self, word: &str) -> Vec<String> {
        let (reply, answer) = mpsc::channel();
        if !(self.ask)(CompletionRequest {
            word: word.to_string(),
            reply,
        }) {
            return Vec::new();
        }
        answer.recv_timeout(Duration::from_secs(2)).unwrap_or_default()
    }
}

/// Start of the dotted/colon path that ends at `pos` (e.g. `lvs.add_s` in `x = lvs.add_s`).
pub fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .take_while(|&(_, c)| c.is_alphanumeric() || c == '_' || c == '.' || c == ':')
        .last()
        .map_or(pos, |(i, _)| i)
}

impl Completer for LuaHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = word_start(line, pos);
        let word = &line[start..pos];
        let cut = word.rfind(['.', ':']).map_or(0, |i| i + 1);
        let pairs = self
            .candidates(word)
            .into_iter()
            .map(|c| Pair {
                display: c[cut.min(c.len())..].to_string(),
                replacement: c,
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for LuaHelper {
    type Hint = String;
}
impl Highlighter for LuaHelper {}
impl Validator for LuaHelper {}
impl Helper for LuaHelper {}

#[cfg(test)]
mod tests {
    use super::word_start;

    #[test]
    fn finds_the_path_under_the_cursor() {
        assert_eq!(word_start("x = lvs.add_s", 13), 4);
        assert_eq!(word_start("lvs.", 4), 0);
        assert_eq!(word_start("f(", 2), 2);
        assert_eq!(word_start("s:ad", 4), 0);
    }
}
