//! The lvsh binary in batch mode: arguments, -e, stdin, shebang, exit codes and messages.

use std::io::Write;
use std::process::{Command, Stdio};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn lvsh(args: &[&str], stdin: &str) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsh"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn script(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, body).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn script_gets_arg_and_varargs() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        &dir,
        "a.lua",
        "print(arg[-1], arg[0] == ..., #arg, arg[1], arg[2])\nprint(select('#', ...), ...)",
    );
    let out = lvsh(&[&s, "x", "y z"], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "lvsh\tfalse\t2\tx\ty z");
    assert_eq!(lines[1], "2\tx\ty z");
}

#[test]
fn arg_zero_is_the_script_path() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(&dir, "b.lua", "print(arg[0])");
    let out = lvsh(&[&s], "");
    assert_eq!(out.stdout.trim(), s);
}

#[test]
fn e_chunks_run_in_order_before_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(&dir, "c.lua", "print(x + y)");
    let out = lvsh(&["-e", "x = 1", "-e", "y = 41", &s], "");
    assert_eq!((out.code, out.stdout.as_str()), (0, "42\n"));
}

#[test]
fn dash_reads_the_script_from_stdin() {
    let out = lvsh(&["-", "p", "q"], "print('in', ...)");
    assert_eq!((out.code, out.stdout.as_str()), (0, "in\tp\tq\n"));
}

#[test]
fn stdin_that_is_not_a_terminal_runs_as_a_script() {
    let out = lvsh(&[], "print(6 * 7)");
    assert_eq!((out.code, out.stdout.as_str()), (0, "42\n"));
}

#[test]
fn shebang_line_is_ignored_and_lines_keep_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        &dir,
        "d.lua",
        "#!/usr/bin/env lvsh\nprint('ok')\nerror('line three')\n",
    );
    let out = lvsh(&[&s], "");
    assert_eq!(out.stdout, "ok\n");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with(&format!("lvsh: {s}:3: line three\nstack traceback:")),
        "{}",
        out.stderr
    );
}

#[test]
fn runtime_error_exits_1_with_position_and_traceback() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        &dir,
        "e.lua",
        "local function f()\n  error('bad thing')\nend\nf()\n",
    );
    let out = lvsh(&[&s], "");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with(&format!("lvsh: {s}:2: bad thing\n")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("stack traceback:"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{s}:4: in main chunk")),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("prelude"), "{}", out.stderr);
}

#[test]
fn syntax_error_exits_1_with_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(&dir, "f.lua", "print(1)\nlocal = 2\n");
    let out = lvsh(&[&s], "");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with(&format!("lvsh: {s}:2: <name> expected near '='")),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "", "nothing of a script that does not compile runs");
}

#[test]
fn usage_errors_exit_2() {
    let out = lvsh(&["--bogus"], "");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("lvsh: unrecognized option '--bogus'\nusage: lvsh"),
        "{}",
        out.stderr
    );
    let out = lvsh(&["-e"], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("'-e' needs an argument"), "{}", out.stderr);
}

#[test]
fn missing_script_exits_1() {
    let out = lvsh(&["/nonexistent/x.lua"], "");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("lvsh: cannot open /nonexistent/x.lua"),
        "{}",
        out.stderr
    );
}

#[test]
fn os_exit_sets_the_exit_code() {
    assert_eq!(lvsh(&["-e", "os.exit(7)"], "").code, 7);
    assert_eq!(lvsh(&["-e", "os.exit(true)"], "").code, 0);
    assert_eq!(lvsh(&["-e", "os.exit(false)"], "").code, 1);
}

#[test]
fn version_and_help() {
    let out = lvsh(&["--version"], "");
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("lvsh 0."), "{}", out.stdout);
    let out = lvsh(&["--help"], "");
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("-e chunk"));
}

#[test]
fn require_finds_modules_beside_the_script_and_in_lvsh_path() {
    let dir = tempfile::tempdir().unwrap();
    script(&dir, "near.lua", "return {v = 'near'}");
    let lib = tempfile::tempdir().unwrap();
    script(&lib, "far.lua", "return {v = 'far'}");
    let s = script(
        &dir,
        "main.lua",
        "print(require('near').v, require('far').v, require('lvs') == lvs)",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lvsh"))
        .arg(&s)
        .current_dir("/")
        .env("LVSH_PATH", lib.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "near\tfar\ttrue\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A module planted in the current directory (as root, in /tmp say) must not shadow the
/// real ones: the current directory comes last, as in standard Lua, and not at all when
/// anyone may write there. The script's own directory still comes first.
#[test]
fn require_searches_the_current_directory_last_and_never_a_world_writable_one() {
    use std::os::unix::fs::PermissionsExt;
    let cwd = tempfile::tempdir().unwrap();
    script(&cwd, "both.lua", "return {v = 'cwd'}");
    script(&cwd, "planted.lua", "print('PLANTED RAN') return {v = 'cwd'}");
    let lib = tempfile::tempdir().unwrap();
    script(&lib, "both.lua", "return {v = 'lib'}");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .args(args)
            .current_dir(cwd.path())
            .env("LVSH_PATH", lib.path())
            .env_remove("LUA_PATH")
            .env_remove("LUA_PATH_5_4")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (String::from_utf8_lossy(&out.stdout).into_owned(), err)
    };
    let chmod = |mode| std::fs::set_permissions(cwd.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    chmod(0o755);
    let (out, err) = run(&["-e", "print(require('both').v, require('planted').v)"]);
    assert_eq!(out, "PLANTED RAN\nlib\tcwd\n", "{err}");
    for mode in [0o777, 0o1777] {
        chmod(mode);
        let (out, err) = run(&["-e", "print(pcall(require, 'planted'))"]);
        assert!(out.starts_with("false\t"), "{mode:o}: {out} {err}");
        assert!(!out.contains("PLANTED RAN"), "{mode:o}: {out}");
        let (out, err) = run(&["-e", "print(package.path:find('./?.lua', 1, true))"]);
        assert_eq!(out, "nil\n", "{mode:o}: {err}");
    }
    // a script in that directory: its own directory is searched, first
    let main = script(&cwd, "main.lua", "print(require('both').v)");
    let (out, err) = run(&[&main]);
    assert_eq!(out, "cwd\n", "{err}");
    chmod(0o700);
}

#[test]
fn errors_raised_in_rust_name_the_lua_line() {
    // help() with a number is fine; lvs functions that fail in Rust are tested in the kernel
    // tests. Here: an error object that is not a string still reports cleanly.
    let out = lvsh(&["-e", "error({code = 1})"], "");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("lvsh: (error object is a table value)\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn i_enters_the_repl_after_the_chunks() {
    // stdin is not a terminal, so rustyline reads plain lines.
    let out = lvsh(&["-e", "x = 20", "-i"], "x + 22\n");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("42\n"), "{}", out.stdout);
}

#[test]
fn every_lvs_function_has_help() {
    let chunk = r#"
        local out = {}
        local real_print = print
        print = function(s) out[#out + 1] = s end
        local missing = {}
        for name, f in pairs(lvs) do
          if type(f) == "function" then
            out = {}
            help(f)
            if out[1] == nil or out[1]:match("^no help") then missing[#missing + 1] = name end
          end
        end
        print = real_print
        table.sort(missing)
        print(table.concat(missing, ","))
        help("ServiceSpec")"#;
    let out = lvsh(&["-e", chunk], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some(""), "functions without help: {}", out.stdout);
    assert_eq!(lines.next(), Some("ServiceSpec"));
    assert!(out.stdout.contains("scheduler"), "{}", out.stdout);
}

/// A reader that stops early (`lvsh ... | head`) must not make lvsh panic: listings, the
/// dry-run report and printed plans all meet a closed pipe here.
#[test]
fn a_closed_pipe_is_no_panic() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::new();
    for i in 0..400 {
        rules += &format!("-A -t 192.0.2.{}:{} -s rr\n", i % 250 + 1, 1000 + i);
        for r in 1..=5 {
            rules += &format!(
                "-a -t 192.0.2.{}:{} -r 198.51.100.{r}:80 -m\n",
                i % 250 + 1,
                1000 + i
            );
        }
    }
    let path = dir.path().join("rules");
    std::fs::write(&path, rules).unwrap();
    let path = path.to_str().unwrap();
    // (chunk, exit code): the report is the run's result, so a report that met the closed
    // pipe fails the run; the plan's short report is in the pipe before it closes
    let chunks = [
        ("lvs.list{format='ipvsadm'}".to_string(), 1),
        (
            format!("lvs.print_plan(lvs.apply('{path}', {{dry_run=true}}))"),
            0,
        ),
        (format!("lvs.clear(); lvs.restore('{path}')"), 1),
    ];
    for (chunk, code) in chunks {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lvsh"))
            .args(["--dry-run", "--state", path, "-e", &chunk])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{chunk}: {stderr}");
        assert_eq!(out.status.code(), Some(code), "{chunk}: {stderr}");
        assert_eq!(
            stderr.contains("lvsh: cannot write the report of the run: Broken pipe"),
            code == 1,
            "{chunk}: {stderr}"
        );
    }
}

/// Lua's io.write (C's buffer) and lvsh's own output (a listing, the dry-run report) come out
/// in the order the script made them, even into a pipe.
#[test]
fn output_keeps_its_order_in_a_pipe() {
    let out = lvsh(
        &[
            "--dry-run",
            "-e",
            "io.write('one\\n'); lvs.list{format='ipvsadm'}; io.write('two\\n')",
        ],
        "",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "one", "{}", out.stdout);
    assert!(
        lines[1].starts_with("IP Virtual Server version"),
        "{}",
        out.stdout
    );
    assert_eq!(lines[4], "two", "{}", out.stdout);
    assert!(lines[5].starts_with("# lvsh --dry-run"), "{}", out.stdout);
}

/// Runs a chunk against the dry-run model; (exit code, stdout, stderr).
fn dry(chunk: &str) -> Out {
    lvsh(&["--dry-run", "-e", chunk], "")
}

#[test]
fn tables_that_hold_themselves_mix_lists_or_use_odd_keys_are_refused_not_a_crash() {
    let o = dry("local t = {addr='192.0.2.1:80'} t.me = t lvs.add_service(t)");
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("unknown field 'me'") || o.stderr.contains("holding itself"),
        "{}",
        o.stderr
    );
    let o = dry("local t = {addr='192.0.2.1:80', servers={}} t.servers.x = t lvs.add_service(t)");
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("nested more than 32 deep, or holding itself"),
        "{}",
        o.stderr
    );
    let o = dry("lvs.add_service{addr='192.0.2.1:80', servers={'198.51.100.1', x=1}}");
    assert!(
        o.stderr
            .contains("a table mixes a list with named fields (x = ...)"),
        "{}",
        o.stderr
    );
    let o = dry("lvs.add_service{addr='192.0.2.1:80', servers={{addr='198.51.100.1', [true]=1}}}");
    assert!(
        o.stderr.contains("has a key that is not a field name"),
        "{}",
        o.stderr
    );
    // nothing was half-applied
    assert!(!o.stdout.contains("-A"), "{}", o.stdout);
}

#[test]
fn apply_and_restore_take_strings_by_one_rule() {
    let o = dry("lvs.apply('')");
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("bad desired \"\": an empty string"),
        "{}",
        o.stderr
    );
    // an empty save restores as nothing
    let o = dry("print(lvs.restore(lvs.save()), lvs.restore('  '))");
    assert_eq!(
        (o.code, o.stdout.lines().next()),
        (0, Some("0\t0")),
        "{}",
        o.stderr
    );
    let o = dry("lvs.apply({{addr='192.0.2.1:80'}, {addr='192.0.2.1:80'}})");
    assert!(
        o.stderr.contains("service TCP 192.0.2.1:80 is given twice"),
        "{}",
        o.stderr
    );
    let o = dry("lvs.apply({{addr='192.0.2.1:80', servers={'198.51.100.1', '198.51.100.1:80'}}})");
    assert!(
        o.stderr
            .contains("real server 198.51.100.1:80 in TCP 192.0.2.1:80 is given twice"),
        "{}",
        o.stderr
    );
    let o = dry("lvs.apply({{addr='192.0.2.1:80'}}, {wait='soon'})");
    assert!(o.stderr.contains("bad wait \"soon\""), "{}", o.stderr);
}

#[test]
fn dry_run_and_plan_together_are_a_usage_error() {
    for args in [["--dry-run", "--plan"], ["--plan", "--dry-run"]] {
        let o = lvsh(&[args[0], args[1], "-e", "print(1)"], "");
        assert_eq!(o.code, 2, "{}", o.stderr);
        assert!(
            o.stderr
                .starts_with("lvsh: '--dry-run' and '--plan' do not go together"),
            "{}",
            o.stderr
        );
        assert_eq!(o.stdout, "", "nothing ran");
    }
}

/// An endless line (`--state /dev/zero`) ends at the bound on a line, under a memory limit
/// that reading it whole would break.
#[test]
fn rules_lines_are_bounded() {
    let o = Command::new("sh")
        .args([
            "-c",
            "ulimit -v 400000; exec \"$0\" --dry-run --state /dev/zero -e 'print(1)'",
            env!("CARGO_BIN_EXE_lvsh"),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr, "lvsh: /dev/zero: line 1: longer than 64 KiB\n");
    // a very long line in a Lua string, to restore or to apply
    for f in ["lvs.restore", "lvs.apply"] {
        let o = dry(&format!(
            "print(pcall({f}, '-A -t 192.0.2.1:80 -s rr\\n-C ' .. ('x'):rep(70000)))"
        ));
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(
            o.stdout.contains("line 2: longer than 64 KiB"),
            "{f}: {}",
            o.stdout
        );
        assert!(o.stdout.contains("run 0 ipvsadm command(s)"), "{f}: {}", o.stdout);
    }
}

/// Rules are bytes: a Latin-1 comment is a comment, a byte that is not UTF-8 in a rule is an
/// error naming its line, and nothing is half-restored.
#[test]
fn rules_are_bytes() {
    let o = dry("print(lvs.restore('# caf\\xe9\\n-A -t 192.0.2.1:80 -s rr\\n'))
         print(#lvs.apply('# caf\\xe9\\n-A -t 192.0.2.1:80 -s rr\\n-A -t 192.0.2.2:80 -s rr\\n'))
         print(pcall(lvs.restore, '-A -t 192.0.2.3:80 -s rr\\n-A -t 192.0.2.4:80 -s r\\xe9\\n'))");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[..2], ["1", "1"], "{}", o.stdout);
    assert_eq!(
        lines[2],
        "false\tline 2: not valid UTF-8 (in: -A -t 192.0.2.4:80 -s r\u{fffd})"
    );
    assert_eq!(
        lines[3],
        "# lvsh --dry-run: the script would have run 2 ipvsadm command(s)"
    );
    // and from a file, as --state and lvs.restore read it
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.rules");
    std::fs::write(&path, b"# r\xe9seau\n-A -t 192.0.2.1:80 -s rr\n").unwrap();
    let path = path.to_str().unwrap();
    let o = lvsh(
        &["--dry-run", "--state", path, "-e", "print(#lvs.services())"],
        "",
    );
    assert_eq!((o.code, o.stdout.lines().next()), (0, Some("1")), "{}", o.stderr);
    let o = dry(&format!("print(lvs.restore('{path}'))"));
    assert_eq!((o.code, o.stdout.lines().next()), (0, Some("1")), "{}", o.stderr);
}

/// --state, restore and apply check schedulers and persistence engines the same way, and a
/// missing engine is named as the engine.
#[test]
fn state_restore_and_apply_check_module_names_alike() {
    let dir = tempfile::tempdir().unwrap();
    for (rule, want) in [
        (
            "-A -t 192.0.2.1:80 -s bogus",
            "scheduler 'bogus' not found (is the ip_vs_bogus module loaded?) for service TCP 192.0.2.1:80",
        ),
        (
            "-A -t 192.0.2.1:80 -s rr -p --pe nope",
            "persistence engine 'nope' not found (is the ip_vs_pe_nope module loaded?) for service TCP 192.0.2.1:80",
        ),
    ] {
        let path = dir.path().join("state.rules");
        std::fs::write(&path, format!("{rule}\n")).unwrap();
        let path = path.to_str().unwrap();
        let o = lvsh(&["--dry-run", "--state", path, "-e", "print(1)"], "");
        assert_eq!(o.code, 1, "{}", o.stderr);
        assert_eq!(o.stderr, format!("lvsh: {path}: line 1: {want} (in: {rule})\n"));
        for f in ["lvs.restore", "lvs.apply"] {
            let o = dry(&format!("print(pcall({f}, '{rule}'))"));
            assert!(o.stdout.contains(want), "{f}: {}", o.stdout);
        }
    }
}
