//! Tab completion of globals and table fields, asked of the Lua state itself.

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::lua::State;

pub struct LuaHelper {
    pub state: State,
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
            .state
            .complete(word)
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
