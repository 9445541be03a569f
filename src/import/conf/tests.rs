use super::*;

#[test]
fn blocks_arguments_comments_and_quotes() {
    let (nodes, aside) = parse_str(
        "k.conf",
        "! a comment\nvirtual_server 10.0.0.1 80 { # trailing\n  lb_algo rr\n  real_server 10.0.0.2 80\n  {\n    MISC_CHECK { misc_path \"/bin/check a b\" }\n  }\n}\n@low global_defs { router_id x }\n",
    )
    .unwrap();
    assert_eq!(nodes.len(), 1);
    let vs = &nodes[0];
    assert_eq!(
        (vs.key.as_str(), vs.args.clone()),
        ("virtual_server", vec!["10.0.0.1".to_string(), "80".into()])
    );
    assert_eq!(vs.value("lb_algo"), Some("rr"));
    let rs = vs.child("real_server").unwrap();
    assert_eq!(rs.at.line, 4);
    assert_eq!(
        rs.child("MISC_CHECK").unwrap().value("misc_path"),
        Some("/bin/check a b")
    );
    assert_eq!(aside.len(), 1);
    assert_eq!(aside[0].at.line, 9);
}

#[test]
fn variables_are_defined_and_used() {
    let (nodes, _) = parse_str(
        "k.conf",
        "$VIP=192.0.2.1\nvirtual_server $VIP ${PORT}\n$PORT=80\nvirtual_server ${VIP} 443 {\n}\n",
    )
    .unwrap();
    assert_eq!(nodes[0].args, ["192.0.2.1", "${PORT}"]);
    assert_eq!(nodes[1].args, ["192.0.2.1", "443"]);
}

#[test]
fn unbalanced_braces_and_open_quotes_name_the_file_and_line() {
    let e = parse_str("k.conf", "a {\n b {\n }\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "k.conf:1: this block is not closed (a '}' is missing)"
    );
    let e = parse_str("k.conf", "a\n}\n").unwrap_err();
    assert_eq!(e.to_string(), "k.conf:2: '}' closes no block");
    let e = parse_str("k.conf", "\nmisc_path \"/bin/x\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "k.conf:2: a quoted string is not closed on its line"
    );
}

#[test]
fn includes_follow_globs_relative_to_the_including_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    std::fs::write(
        dir.path().join("conf.d/b.conf"),
        "virtual_server 10.0.0.2 80 {\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("conf.d/a.conf"),
        "virtual_server 10.0.0.1 80 {\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("conf.d/skip.txt"), "junk {\n").unwrap();
    let main = dir.path().join("keepalived.conf");
    std::fs::write(&main, "include conf.d/*.conf\ninclude none/*.conf\n").unwrap();
    let (nodes, _) = parse_file(&main).unwrap();
    let addrs: Vec<&str> = nodes.iter().map(|n| n.args[0].as_str()).collect();
    assert_eq!(addrs, ["10.0.0.1", "10.0.0.2"]);
    assert!(nodes[0].at.file.ends_with("conf.d/a.conf"));
    std::fs::write(&main, "include missing.conf\n").unwrap();
    let e = parse_file(&main).unwrap_err();
    assert!(e.to_string().contains("keepalived.conf:1: cannot read"), "{e}");
    // an include of itself stops at the depth limit
    std::fs::write(&main, "include keepalived.conf\n").unwrap();
    assert!(
        parse_file(&main)
            .unwrap_err()
            .msg
            .contains("nested more than 8 deep")
    );
}

#[test]
fn globs_match_as_glob3_does() {
    assert!(wild("*.conf", "a.conf") && !wild("*.conf", "a.conf.bak"));
    assert!(wild("vs[0-9].conf", "vs3.conf") && !wild("vs[!0-9].conf", "vs3.conf"));
    assert!(wild("?.c", "a.c") && !wild("?.c", "ab.c"));
}

proptest::proptest! {
    /// Any text: a tree or an error naming a line, and the translation of a tree never panics.
    #[test]
    fn any_text_parses_or_fails_with_a_line(lines in proptest::collection::vec(
        proptest::sample::select(vec![
            "virtual_server 10.0.0.1 80 {", "virtual_server group g {", "virtual_server_group g {", "10.0.0.3-1 80",
            "fwmark x", "real_server 10.0.0.2 {", "real_server", "HTTP_GET {", "url {", "status_code 200-1,x",
            "SSL_GET {", "MISC_CHECK {", "misc_path \"\"", "misc_path \"/bin/a {ip}\"", "DNS_CHECK {", "}", "{",
            "retry -1", "delay_loop 0", "$X=1", "${X} ${Y}", "@id line", "\"open", "weight", "lb_kind XX", "protocol ICMP",
            "sorry_server 10.0.0.9", "connect_ip ::1", "connect_port 8", "vrrp_instance v {", "global_defs {", "# c",
        ]),
        0..40,
    )) {
        let text = lines.join("\n");
        match parse_str("k.conf", &text) {
            Ok((nodes, aside)) => {
                let _ = crate::import::keepalived::translate(&nodes, aside, "k.conf");
            }
            Err(e) => proptest::prop_assert!(e.at.line >= 1 && e.at.line <= lines.len().max(1)),
        }
    }
}
