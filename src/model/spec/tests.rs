use super::*;

fn svc(addr: &str) -> ServiceSpec {
    ServiceSpec {
        addr: Some(addr.into()),
        ..Default::default()
    }
}

#[test]
fn endpoints() {
    let v4: IpAddr = "192.0.2.1".parse().unwrap();
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    assert_eq!(parse_endpoint("addr", "192.0.2.1:80").unwrap(), (v4, Some(80)));
    assert_eq!(parse_endpoint("addr", "192.0.2.1").unwrap(), (v4, None));
    assert_eq!(
        parse_endpoint("addr", "[2001:db8::1]:443").unwrap(),
        (v6, Some(443))
    );
    assert_eq!(parse_endpoint("addr", "[2001:db8::1]").unwrap(), (v6, None));
    assert_eq!(parse_endpoint("addr", "2001:db8::1").unwrap(), (v6, None));
    for bad in [
        "300.1.1.1:80",
        "192.0.2.1:70000",
        "192.0.2.1:",
        "host:80",
        "[2001:db8::1",
        "",
        "[::1]x",
    ] {
        let e = parse_endpoint("addr", bad).unwrap_err();
        assert_eq!(e.field, "addr");
        assert!(e.to_string().contains(&format!("'{}'", bad.trim())), "{e}");
    }
}

#[test]
fn service_defaults_follow_ipvsadm() {
    let s = svc("192.0.2.110:80").to_service(None).unwrap();
    assert_eq!(s.scheduler, "wlc");
    assert_eq!(s.flags, 0);
    assert_eq!(s.netmask, u32::MAX);
    assert_eq!(s.key.to_string(), "TCP 192.0.2.110:80");
    let p = ServiceSpec {
        persistent: Some(Some(0)),
        ..svc("192.0.2.110:0")
    }
    .to_service(None)
    .unwrap();
    assert_eq!((p.timeout, p.persistent()), (360, true));
    let v6 = svc("[2001:db8::1]:80").to_service(None).unwrap();
    assert_eq!(v6.netmask, 128);
}

#[test]
fn netmasks() {
    let with = |m: Netmask, a: &str| {
        ServiceSpec {
            netmask: Some(m),
            persistent: Some(Some(60)),
            ..svc(a)
        }
        .to_service(None)
        .map(|s| s.netmask)
    };
    assert_eq!(
        with(Netmask::Dotted("255.255.255.0".into()), "192.0.2.1:80"),
        Ok(0xffffff00)
    );
    assert_eq!(with(Netmask::Prefix(24), "192.0.2.1:80"), Ok(0xffffff00));
    assert_eq!(with(Netmask::Prefix(64), "[2001:db8::1]:80"), Ok(64));
    assert!(with(Netmask::Dotted("255.0.255.0".into()), "192.0.2.1:80").is_err());
    assert!(with(Netmask::Prefix(129), "[2001:db8::1]:80").is_err());
    assert!(with(Netmask::Dotted("255.255.0.0".into()), "[2001:db8::1]:80").is_err());
}

#[test]
fn bad_services_name_the_field() {
    let cases: Vec<(ServiceSpec, &str)> = vec![
        (
            ServiceSpec {
                fwmark: Some(5),
                ..svc("192.0.2.1:80")
            },
            "fwmark",
        ),
        (ServiceSpec::default(), "service"),
        (
            ServiceSpec {
                fwmark: Some(0),
                ..Default::default()
            },
            "fwmark",
        ),
        (
            ServiceSpec {
                proto: Some("icmp".into()),
                ..svc("192.0.2.1:80")
            },
            "proto",
        ),
        (
            ServiceSpec {
                scheduler: Some("w l c".into()),
                ..svc("192.0.2.1:80")
            },
            "scheduler",
        ),
        (
            ServiceSpec {
                persistent: Some(Some(2_678_401)),
                ..svc("192.0.2.1:80")
            },
            "persistent",
        ),
        (
            ServiceSpec {
                sched_flags: Some(vec!["sh-port".into()]),
                ..svc("192.0.2.1:80")
            },
            "sched_flags",
        ),
        (
            ServiceSpec {
                sched_flags: Some(vec!["nope".into()]),
                ..svc("192.0.2.1:80")
            },
            "sched_flags",
        ),
        (
            ServiceSpec {
                ops: Some(true),
                ..svc("192.0.2.1:80")
            },
            "ops",
        ),
        (svc("192.0.2.1:0"), "addr"),
        (
            ServiceSpec {
                af: Some("inet6".into()),
                ..svc("192.0.2.1:80")
            },
            "af",
        ),
        (
            ServiceSpec {
                pe: Some(Some("sip".into())),
                ..svc("192.0.2.1:80")
            },
            "pe",
        ),
    ];
    for (spec, field) in cases {
        let e = spec.to_service(None).unwrap_err();
        assert_eq!(e.field, field, "{spec:?} gave {e}");
    }
}

#[test]
fn sched_flags_match_their_scheduler() {
    let s = ServiceSpec {
        scheduler: Some("sh".into()),
        sched_flags: Some(vec!["sh-fallback".into(), "sh-port".into()]),
        ..svc("192.0.2.1:80")
    }
    .to_service(None)
    .unwrap();
    assert_eq!(s.flags, SVC_F_SCHED1 | SVC_F_SCHED2);
    assert_eq!(sched_flag_names(s.flags, "sh"), vec!["sh-fallback", "sh-port"]);
    assert_eq!(
        sched_flag_names(SVC_F_SCHED1 | SVC_F_SCHED3, "rr"),
        vec!["flag-1", "flag-3"]
    );
}

#[test]
fn servers() {
    let key = svc("192.0.2.110:80").key().unwrap();
    let d = ServerSpec {
        addr: "192.0.2.101".into(),
        ..Default::default()
    }
    .to_dest(&key, None)
    .unwrap();
    assert_eq!((d.port, d.fwd, d.weight), (80, Forward::Route, 1));
    let nat = ServerSpec {
        addr: "192.0.2.101:8080".into(),
        method: Some("masq".into()),
        weight: Some(3),
        ..Default::default()
    };
    assert_eq!(nat.to_dest(&key, None).unwrap().port, 8080);
    let gue = ServerSpec {
        addr: "192.0.2.101".into(),
        method: Some("tun".into()),
        tun_type: Some("gue".into()),
        tun_port: Some(6080),
        tun_csum: Some("remcsum".into()),
        ..Default::default()
    };
    let g = gue.to_dest(&key, None).unwrap();
    assert_eq!(
        (g.tun_type, g.tun_port, g.tun_flags),
        (TunType::Gue, 6080, TUN_REMCSUM)
    );
}

#[test]
fn bad_servers_name_the_field() {
    let key = svc("192.0.2.110:80").key().unwrap();
    let rs = |f: fn(&mut ServerSpec)| {
        let mut s = ServerSpec {
            addr: "192.0.2.101".into(),
            ..Default::default()
        };
        f(&mut s);
        s.to_dest(&key, None).unwrap_err().field
    };
    assert_eq!(rs(|s| s.weight = Some(-1)), "weight");
    assert_eq!(rs(|s| s.method = Some("bogus".into())), "method");
    assert_eq!(rs(|s| s.addr = "192.0.2.101:8080".into()), "addr");
    assert_eq!(rs(|s| s.addr = "[2001:db8::1]:80".into()), "addr");
    assert_eq!(rs(|s| s.tun_type = Some("gue".into())), "method");
    assert_eq!(rs(|s| (s.upper, s.lower) = (Some(10), Some(20))), "lower");
    assert_eq!(
        rs(|s| (s.method, s.tun_type) = (Some("tun".into()), Some("gue".into()))),
        "tun_port"
    );
    assert_eq!(
        rs(|s| (s.method, s.tun_port) = (Some("tun".into()), Some(5))),
        "tun_port"
    );
    assert_eq!(
        rs(|s| (s.method, s.tun_csum) = (Some("tun".into()), Some("csum".into()))),
        "tun_csum"
    );
    assert_eq!(rs(|s| s.upper = Some(1 << 40)), "upper");
}

/// The names a struct's Debug output gives its fields, in order.
fn debug_fields(debug: &str) -> Vec<String> {
    let inner = &debug[debug.find('{').unwrap() + 1..debug.rfind('}').unwrap()];
    inner
        .split(", ")
        .filter_map(|p| p.split_once(':').map(|(k, _)| k.trim().to_string()))
        .collect()
}

#[test]
fn the_field_lists_are_the_specs_fields() {
    let mut service = debug_fields(&format!("{:?}", ServiceSpec::default()));
    service.push("servers".into());
    assert_eq!(service, SERVICE_FIELDS);
    let server = debug_fields(&format!("{:?}", ServerSpec::default()));
    assert_eq!(server, SERVER_FIELDS);
}

/// The `---@field` names of a class in lua/lvs.meta.lua (not those it inherits).
fn meta_fields(class: &str) -> Vec<String> {
    let meta = include_str!("../../../lua/lvs.meta.lua");
    let head = format!("---@class {class}");
    let start = meta
        .lines()
        .position(|l| l == head || l.starts_with(&format!("{head}:")))
        .unwrap_or_else(|| panic!("no class {class} in lvs.meta.lua"));
    let mut names: Vec<String> = meta
        .lines()
        .skip(start + 1)
        .take_while(|l| l.starts_with("---@field "))
        .map(|l| {
            l["---@field ".len()..]
                .split([' ', '?'])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    names.sort();
    names
}

fn sorted(a: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn the_spec_fields_are_the_ones_lvs_meta_lua_documents() {
    assert_eq!(meta_fields("ServiceSpec"), sorted(SERVICE_FIELDS), "ServiceSpec");
    assert_eq!(meta_fields("ServerSpec"), sorted(SERVER_FIELDS), "ServerSpec");
    // what lvsh returns beyond a spec (a service's servers list is a spec field too)
    let mut service = SERVICE_OUTPUT.to_vec();
    service.push("servers");
    assert_eq!(meta_fields("Service"), sorted(&service), "Service");
    assert_eq!(meta_fields("Server"), sorted(SERVER_OUTPUT), "Server");
}
