//! An ipvsadm command line typed or pasted as a shell line (`ipvsadm -A -t "192.0.2.1:80"
//! -s 'rr'`), split into words as sh would split it, so that handbook commands run as they
//! are. No expansion: `$`, globs and the like stay as they are written.

/// The words of `line`: quotes and backslashes as sh takes them, a word starting with `#`
/// begins a comment, and a leading `ipvsadm` (the command's own name) is dropped. An
/// unterminated quote or a trailing backslash is an error saying so.
pub fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    // the word being read; None between words (an empty quoted word is still a word)
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '#' if word.is_none() => break,
            '\\' => match chars.next() {
                // a backslash before a line break joins the lines
                Some('\n') => {}
                Some(next) => word.get_or_insert_default().push(next),
                None => return Err("a backslash at the end of the line".into()),
            },
            '\'' => {
                let w = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => w.push(q),
                        None => return Err("a ' quote is not closed".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // inside double quotes a backslash escapes only these, as in sh
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => w.push(e),
                            Some('\n') => {}
                            Some(other) => {
                                w.push('\\');
                                w.push(other);
                            }
                            None => return Err("a \" quote is not closed".into()),
                        },
                        Some(q) => w.push(q),
                        None => return Err("a \" quote is not closed".into()),
                    }
                }
            }
            other => word.get_or_insert_default().push(other),
        }
    }
    words.extend(word);
    if words.first().is_some_and(|w| w == "ipvsadm") {
        words.remove(0);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::shell_words;

    fn words(line: &str) -> Vec<String> {
        shell_words(line).unwrap()
    }

    #[test]
    fn quotes_and_backslashes_as_sh() {
        assert_eq!(
            words(r#"ipvsadm -A -t "192.0.2.1:80" -s 'rr'"#),
            ["-A", "-t", "192.0.2.1:80", "-s", "rr"]
        );
        assert_eq!(
            words("ipvsadm  -A\t-t 192.0.2.1:80\r -s rr "),
            ["-A", "-t", "192.0.2.1:80", "-s", "rr"]
        );
        assert_eq!(
            words(r"-a -t 192.0.2.1:80 -r\ 192.0.2.2"),
            ["-a", "-t", "192.0.2.1:80", "-r 192.0.2.2"]
        );
        assert_eq!(words(r#"--pe "s"'i'p -b ''"#), ["--pe", "sip", "-b", ""]);
        assert_eq!(words(r#"-s "a\"b\\c\d$x""#), ["-s", r#"a"b\c\d$x"#]);
        assert_eq!(words("-s 'a\\b'"), ["-s", "a\\b"]);
        assert_eq!(words("-C \\\n -n"), ["-C", "-n"]);
    }

    #[test]
    fn comments_and_the_command_name() {
        assert_eq!(words("ipvsadm -C # clear all"), ["-C"]);
        assert_eq!(words("-s a#b"), ["-s", "a#b"]);
        assert_eq!(words("'ipvsadm' -C"), ["-C"]);
        assert_eq!(words("-C ipvsadm"), ["-C", "ipvsadm"]);
        assert!(words("ipvsadm").is_empty());
        assert!(words("  ").is_empty());
    }

    #[test]
    fn unclosed_quotes_are_errors() {
        assert_eq!(shell_words("-s 'rr").unwrap_err(), "a ' quote is not closed");
        assert_eq!(shell_words("-s \"rr").unwrap_err(), "a \" quote is not closed");
        assert_eq!(
            shell_words("-C \\").unwrap_err(),
            "a backslash at the end of the line"
        );
    }
}
