use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{open_private, write_atomic};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mkfifo(p: &Path) {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

#[test]
fn a_new_file_is_0600_and_an_existing_one_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("rules");
    write_atomic(&p, b"one\n").unwrap();
    assert_eq!(mode(&p), 0o600);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_atomic(&p, b"two\n").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "two\n");
    assert_eq!(mode(&p), 0o644, "an existing 0644 file stays 0644");
    assert_eq!(names(dir.path()), ["rules"], "no temporary file is left");
}

#[test]
fn a_planted_tmp_link_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "theirs\n").unwrap();
    let p = dir.path().join("rules");
    // the fixed names a naive writer would use
    for fixed in ["rules.tmp", ".rules.tmp", "rules~"] {
        std::os::unix::fs::symlink(&victim, dir.path().join(fixed)).unwrap();
    }
    write_atomic(&p, b"mine\n").unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "theirs\n");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "mine\n");
}

#[test]
fn a_character_device_is_written_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let null = dir.path().join("null");
    // the same device as /dev/null, made here so that a failure cannot harm the real one
    let made = nix::sys::stat::mknod(
        &null,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    );
    if made.is_err() {
        eprintln!("skipped: mknod needs root");
        return;
    }
    write_atomic(&null, b"gone\n").unwrap();
    let m = std::fs::symlink_metadata(&null).unwrap();
    assert!(m.file_type().is_char_device(), "still a device: {m:?}");
    assert_eq!(names(dir.path()), ["null"]);
    // /dev/null itself, through a link root made (as /dev/stdout is one)
    let link = dir.path().join("devnull");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    if std::fs::symlink_metadata(&link).unwrap().uid() == nix::unistd::geteuid().as_raw() {
        write_atomic(&link, b"gone\n").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    }
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn a_fifo_with_a_reader_is_written_and_one_without_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let start = Instant::now();
    let e = write_atomic(&fifo, b"x\n").unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(e.to_string().contains("a FIFO that nobody reads"), "{e}");
    let path = fifo.clone();
    // a blocking open waits for the writer; the writer's open fails until the reader is there
    let reader = std::thread::spawn(move || std::fs::read_to_string(path).unwrap());
    let start = Instant::now();
    while let Err(e) = write_atomic(&fifo, b"through the pipe\n") {
        assert!(e.to_string().contains("nobody reads"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(5), "no reader came");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(reader.join().unwrap(), "through the pipe\n");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn directories_sockets_and_links_to_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let e = write_atomic(&sub, b"x").unwrap_err();
    assert!(e.to_string().contains("it is a directory"), "{e}");
    let sock = dir.path().join("sock");
    let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let e = write_atomic(&sock, b"x").unwrap_err();
    assert!(e.to_string().contains("it is a socket"), "{e}");
    let target = dir.path().join("target");
    std::fs::write(&target, "kept\n").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let e = write_atomic(&link, b"x").unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "kept\n");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn private_files_are_opened_only_when_regular_and_never_block() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log");
    drop(open_private(&p, false).unwrap());
    assert_eq!(mode(&p), 0o600);
    let target = dir.path().join("target");
    std::fs::write(&target, "kept\n").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let e = open_private(&link, false).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let start = Instant::now();
    for read in [false, true] {
        let e = open_private(&fifo, read).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
    assert!(start.elapsed() < Duration::from_secs(1));
    let hard = dir.path().join("hard");
    std::fs::hard_link(&target, &hard).unwrap();
    let e = open_private(&hard, false).unwrap_err();
    assert!(e.to_string().contains("hard links"), "{e}");
}
