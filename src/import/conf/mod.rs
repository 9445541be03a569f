//! keepalived's configuration language read as keepalived reads it: words and quoted strings,
//! `#` and `!` comments, `{ }` blocks (a keyword's arguments are the rest of its line),
//! `include` with globs (relative to the including file), `$NAME=value` definitions and
//! `$NAME`/`${NAME}` uses. Lines behind an `@id` condition are kept aside: lvsh has no
//! configuration id to match them against.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Where something was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    pub file: Rc<str>,
    pub line: usize,
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub key: String,
    pub args: Vec<String>,
    pub children: Vec<Node>,
    pub at: At,
}

impl Node {
    pub fn child(&self, key: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.key == key)
    }

    /// The first argument of the child `key`.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.child(key).and_then(|c| c.args.first()).map(String::as_str)
    }
}

#[derive(Debug, PartialEq)]
pub struct ParseError {
    pub at: At,
    pub msg: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.msg)
    }
}

/// A line read but not taken, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Aside {
    pub at: At,
    pub why: String,
}

struct Tok {
    text: String,
    /// Counts physical lines over all files: a keyword's arguments share its line.
    line: usize,
    at: At,
}

struct Reader {
    toks: Vec<Tok>,
    vars: HashMap<String, String>,
    aside: Vec<Aside>,
    lines: usize,
}

const MAX_DEPTH: usize = 8;

/// The configuration in `path` (and what it includes) as a tree, and the lines kept aside.
pub fn parse_file(path: &Path) -> Result<(Vec<Node>, Vec<Aside>), ParseError> {
    let top = At {
        file: Rc::from(path.display().to_string()),
        line: 0,
    };
    Reader::tree(|r| r.read(path, &top, 0))
}

/// The same from text (for tests), as if read from `name`.
pub fn parse_str(name: &str, text: &str) -> Result<(Vec<Node>, Vec<Aside>), ParseError> {
    Reader::tree(|r| r.text(Path::new(name), text, 0))
}

impl Reader {
    /// What `fill` reads, as a tree, and the lines kept aside.
    fn tree(
        fill: impl FnOnce(&mut Reader) -> Result<(), ParseError>,
    ) -> Result<(Vec<Node>, Vec<Aside>), ParseError> {
        let mut r = Reader {
            toks: Vec::new(),
            vars: HashMap::new(),
            aside: Vec::new(),
            lines: 0,
        };
        fill(&mut r)?;
        let mut pos = 0;
        let nodes = block(&r.toks, &mut pos, None)?;
        Ok((nodes, r.aside))
    }

    fn read(&mut self, path: &Path, from: &At, depth: usize) -> Result<(), ParseError> {
        let text = std::fs::read_to_string(path).map_err(|e| ParseError {
            at: from.clone(),
            msg: format!("cannot read {}: {e}", path.display()),
        })?;
        self.text(path, &text, depth)
    }

    fn text(&mut self, path: &Path, text: &str, depth: usize) -> Result<(), ParseError> {
        let file: Rc<str> = Rc::from(path.display().to_string());
        for (i, raw) in text.lines().enumerate() {
            let at = At {
                file: file.clone(),
                line: i + 1,
            };
            self.lines += 1;
            let words = words(raw).map_err(|msg| ParseError { at: at.clone(), msg })?;
            let Some(first) = words.first() else { continue };
            if first.starts_with('@') {
                self.aside.push(Aside {
                    at,
                    why: format!("'{first}': a line for one configuration id (lvsh has none to match)"),
                });
                continue;
            }
            if let Some(def) = first.strip_prefix('$')
                && let Some((name, value)) = def.split_once('=')
            {
                let mut value = value.to_string();
                for w in &words[1..] {
                    value += " ";
                    value += w;
                }
                self.vars.insert(name.to_string(), value);
                continue;
            }
            let words: Vec<String> = words.iter().map(|w| self.expand(w)).collect();
            if words[0] == "include" {
                let Some(pattern) = words.get(1) else {
                    return Err(ParseError {
                        at,
                        msg: "include: which file?".into(),
                    });
                };
                if depth >= MAX_DEPTH {
                    return Err(ParseError {
                        at,
                        msg: format!("include {pattern}: includes nested more than {MAX_DEPTH} deep"),
                    });
                }
                for p in glob(path, pattern).map_err(|msg| ParseError { at: at.clone(), msg })? {
                    self.read(&p, &at, depth + 1)?;
                }
                continue;
            }
            let line = self.lines;
            for w in words {
                self.toks.push(Tok {
                    text: w,
                    line,
                    at: at.clone(),
                });
            }
        }
        Ok(())
    }

    fn expand(&self, w: &str) -> String {
        if !w.contains('$') {
            return w.to_string();
        }
        let mut out = w.to_string();
        for (k, v) in &self.vars {
            out = out.replace(&format!("${{{k}}}"), v).replace(&format!("${k}"), v);
        }
        out
    }
}

/// The words of a line: braces apart, quotes taken off, a comment ending it.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err("a quoted string is not closed on its line".into()),
                    }
                }
                cur.push_str(&s);
                if cur.is_empty() {
                    out.push(String::new());
                }
            }
            '#' | '!' if cur.is_empty() => break,
            // a variable's use, ${NAME}, is one word
            '{' if cur.ends_with('$') => {
                cur.push('{');
                for c in chars.by_ref() {
                    cur.push(c);
                    if c == '}' {
                        break;
                    }
                }
            }
            '{' | '}' => {
                flush(&mut cur, &mut out);
                out.push(c.to_string());
            }
            c if c.is_whitespace() => flush(&mut cur, &mut out),
            c => cur.push(c),
        }
    }
    flush(&mut cur, &mut out);
    Ok(out)
}

/// The files an include names, sorted; relative to the including file's directory. A
/// pattern with `*`, `?` or `[` in its last part may match none.
fn glob(from: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let p = Path::new(pattern);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        from.parent().unwrap_or(Path::new(".")).join(p)
    };
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return Ok(vec![p]);
    }
    let dir = p.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| wild(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// `*`, `?` and `[...]` as glob(3) takes them in a file name.
fn wild(pat: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => match p.iter().position(|c| *c == ']') {
                Some(end) if !n.is_empty() => {
                    let set = &p[1..end];
                    let (neg, set) = match set.first() {
                        Some('!') | Some('^') => (true, &set[1..]),
                        _ => (false, set),
                    };
                    let mut hit = false;
                    let mut i = 0;
                    while i < set.len() {
                        if i + 2 < set.len() && set[i + 1] == '-' {
                            hit |= (set[i]..=set[i + 2]).contains(&n[0]);
                            i += 3;
                        } else {
                            hit |= set[i] == n[0];
                            i += 1;
                        }
                    }
                    hit != neg && go(&p[end + 1..], &n[1..])
                }
                _ => false,
            },
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pat.chars().collect(), name.chars().collect());
    go(&p, &n)
}

/// Statements until the closing brace of `open` (or the end, at the top).
fn block(toks: &[Tok], pos: &mut usize, open: Option<&At>) -> Result<Vec<Node>, ParseError> {
    let mut nodes = Vec::new();
    while *pos < toks.len() {
        let t = &toks[*pos];
        match t.text.as_str() {
            "}" => {
                if open.is_none() {
                    return Err(ParseError {
                        at: t.at.clone(),
                        msg: "'}' closes no block".into(),
                    });
                }
                *pos += 1;
                return Ok(nodes);
            }
            "{" => {
                // a block with no keyword: its content belongs to the enclosing one
                *pos += 1;
                let at = t.at.clone();
                nodes.extend(block(toks, pos, Some(&at))?);
            }
            _ => {
                let (key, line, at) = (t.text.clone(), t.line, t.at.clone());
                *pos += 1;
                let mut args = Vec::new();
                while *pos < toks.len()
                    && toks[*pos].line == line
                    && !matches!(toks[*pos].text.as_str(), "{" | "}")
                {
                    args.push(toks[*pos].text.clone());
                    *pos += 1;
                }
                let mut children = Vec::new();
                if *pos < toks.len() && toks[*pos].text == "{" {
                    *pos += 1;
                    children = block(toks, pos, Some(&at))?;
                }
                nodes.push(Node {
                    key,
                    args,
                    children,
                    at,
                });
            }
        }
    }
    match open {
        Some(at) => Err(ParseError {
            at: at.clone(),
            msg: "this block is not closed (a '}' is missing)".into(),
        }),
        None => Ok(nodes),
    }
}

#[cfg(test)]
mod tests;
