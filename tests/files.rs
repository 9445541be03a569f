//! Files lvsh writes and opens (issue #19), on the host against the dry-run model: lvs.save
//! keeps a file's mode, writes devices and FIFOs in place and refuses what is not a file;
//! lvs.log.file never follows a link and never hangs on a FIFO.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `lvsh --dry-run -e chunk`, killed if it takes longer than 10 s (a hang is a failure).
fn dry(chunk: &str) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lvsh"))
        .args(["--dry-run", "-e", chunk])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), start.elapsed())
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const ONE: &str = "lvs.add_service{addr='192.0.2.1:80'} ";

#[test]
fn save_keeps_the_mode_of_the_file_it_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rules");
    std::fs::write(&p, "old\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (o, _) = dry(&format!("{ONE} lvs.save('{}')", p.display()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "-A -t 192.0.2.1:80 -s wlc\n"
    );
    assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "a temporary file was left: {names:?}");
}

#[test]
fn save_writes_devices_and_fifos_in_place() {
    let dir = tempfile::tempdir().unwrap();
    // /dev/null's device, made here: were it replaced, the real one would still be intact
    let null = dir.path().join("null");
    let made = nix::sys::stat::mknod(
        &null,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    );
    if made.is_ok() {
        let (o, _) = dry(&format!("{ONE} lvs.save('{}')", null.display()));
        assert!(o.status.success(), "{}", stderr(&o));
        let m = std::fs::symlink_metadata(&null).unwrap();
        assert!(m.file_type().is_char_device(), "replaced: {m:?}");
    }
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (o, took) = dry(&format!("{ONE} lvs.save('{}')", fifo.display()));
    assert_eq!(o.status.code(), Some(1));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        stderr(&o).contains(&format!(
            "cannot write {}: it is a FIFO that nobody reads",
            fifo.display()
        )),
        "{}",
        stderr(&o)
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    std::thread::sleep(Duration::from_millis(200));
    let (o, _) = dry(&format!("{ONE} lvs.save('{}')", fifo.display()));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(reader.join().unwrap(), "-A -t 192.0.2.1:80 -s wlc\n");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn save_to_dev_stdout_writes_to_stdout() {
    let (o, _) = dry(&format!("io.write('before\\n') {ONE} lvs.save('/dev/stdout')"));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("before\n-A -t 192.0.2.1:80 -s wlc\n"), "{out}");
    assert!(
        std::fs::symlink_metadata("/dev/stdout")
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn save_refuses_directories_and_links_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let (o, _) = dry(&format!("{ONE} lvs.save('{}')", dir.path().display()));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("it is a directory"), "{}", stderr(&o));
    let target = dir.path().join("target");
    std::fs::write(&target, "theirs\n").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (o, _) = dry(&format!("{ONE} lvs.save('{}')", link.display()));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("it is a symbolic link; lvsh does not write files through links"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs\n");
}

#[test]
fn log_file_refuses_links_and_fifos_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, "theirs\n").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (o, _) = dry(&format!("lvs.log.file('{}') lvs.log.info('x')", link.display()));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "lvs.log.file: cannot log to {}: it is a symbolic link",
            link.display()
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs\n");
    assert_eq!(std::fs::metadata(&target).unwrap().mode() & 0o777, 0o644);

    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let (o, took) = dry(&format!("lvs.log.file('{}')", fifo.display()));
    assert!(
        took < Duration::from_secs(5),
        "lvs.log.file hung on a FIFO ({took:?})"
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));

    let good = dir.path().join("lvsh.log");
    let (o, _) = dry(&format!(
        "lvs.log.file('{}') lvs.log.warn('hello')",
        good.display()
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&good).unwrap().contains("warn  hello"));
    assert_eq!(std::fs::metadata(&good).unwrap().mode() & 0o777, 0o600);
}

/// A closed stderr drops log lines (counted), the log file gets every one, and the process
/// goes on to its end: no "failed printing to stderr" panic.
#[test]
fn log_lines_to_a_closed_stderr_are_dropped_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("lvsh.log");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_lvsh"))
        .args([
            "-e",
            &format!(
                "lvs.log.file('{}') for i = 1, 3 do lvs.log.info('line', i) end print('dropped', lvs.log.dropped())",
                log.display()
            ),
        ])
        .stderr(writer)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "dropped\t3\n");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("line 1") && text.contains("line 3"), "{text}");
}
