//! `lvs.watch` against the dry-run model: its settings are checked before anything runs, and
//! a round reports, reverts or adopts as the kernel tests (tests/kernel/drift.rs) check on
//! the real kernel.

use std::process::Command;

fn dry(chunk: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lvsh"))
        .args(["--dry-run", "-e", chunk])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_name_the_field_and_the_value() {
    let cases = [
        ("desired={}, every=0", "every", "'0'"),
        ("desired={}, every='often'", "every", "often"),
        ("desired={}, action='fix'", "action", "fix"),
        ("desired={}, max_changes=0", "max_changes", "'0'"),
        ("desired={}, max_changes=2.5", "max_changes", "2.5"),
        (
            "desired='/nonexistent/lvs.rules'",
            "desired",
            "/nonexistent/lvs.rules",
        ),
        ("desired=''", "desired", "an empty string"),
        ("desired=42", "desired", "42"),
        ("desired={{addr='192.0.2.1:80', scheduler=7}}", "scheduler", "7"),
        (
            "desired=function() return {} end, action='adopt'",
            "action",
            "adopt",
        ),
        ("every=1", "desired", "missing"),
        ("desired={}, evry=1", "evry", "evry"),
    ];
    for (args, field, value) in cases {
        let (code, _, err) = dry(&format!("lvs.watch{{{args}}}"));
        assert_eq!(code, 1, "{args}: {err}");
        assert!(err.contains(field) && err.contains(value), "{args}: {err}");
    }
}

const EVENTS: &str = r#"
    io.stdout:setvbuf("line")
    lvs.apply{{addr='192.0.2.1:80', scheduler='wrr',
      servers={{addr='198.51.100.1', weight=1}, {addr='198.51.100.2', weight=1}}}}
    lvs.on_event(function(ev)
      if ev.kind:match('^drift') then
        local parts = {'EV', ev.kind, ev.action or '', ev.ops and ('%d'):format(ev.ops) or ''}
        for _, c in ipairs(ev.changes or {}) do
          parts[#parts + 1] = ('%s|%s|%s|%s|%s'):format(c.service, c.server or '', c.field or '',
            tostring(c.want), tostring(c.have))
        end
        for _, o in ipairs(ev.operations or {}) do parts[#parts + 1] = o end
        print(table.concat(parts, ' '))
      end
    end)
"#;

#[test]
fn rounds_report_once_revert_and_adopt() {
    let (code, out, err) = dry(&format!(
        "{EVENTS}
        local w = lvs.watch{{desired=lvs.state(), every=0.2}}
        lvs.del_server({{addr='192.0.2.1:80'}}, '198.51.100.2')
        lvs.sleep(0.9)
        lvs.add_server({{addr='192.0.2.1:80'}}, {{addr='198.51.100.2', weight=1}})
        lvs.sleep(0.5)
        w:cancel()
        w = lvs.watch{{desired=lvs.state(), every=0.2, action='revert'}}
        lvs.edit_server({{addr='192.0.2.1:80'}}, {{addr='198.51.100.1', weight=4}})
        lvs.sleep(0.5)
        print('weight', lvs.state()[1].servers[1].weight)
        w:cancel()
        w = lvs.watch{{desired=lvs.state(), every=0.2, action='adopt'}}
        lvs.edit_server({{addr='192.0.2.1:80'}}, {{addr='198.51.100.1', weight=4}})
        lvs.sleep(0.5)
        lvs.edit_server({{addr='192.0.2.1:80'}}, {{addr='198.51.100.1', weight=6}})
        lvs.sleep(0.5)
        print('weight', lvs.state()[1].servers[1].weight)
        w:cancel()"
    ));
    assert_eq!(code, 0, "{err}");
    let ev: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("EV ") || l.starts_with("weight"))
        .collect();
    assert_eq!(
        ev,
        [
            "EV drift_found report 1 TCP 192.0.2.1:80|198.51.100.2:80||present|absent",
            "EV drift_cleared  ",
            "EV drift_found revert 1 TCP 192.0.2.1:80|198.51.100.1:80|weight|1|4",
            "EV drift_reverted  1 edit real server 198.51.100.1:80 in TCP 192.0.2.1:80",
            "weight\t1",
            "EV drift_found adopt 1 TCP 192.0.2.1:80|198.51.100.1:80|weight|1|4",
            "EV drift_adopted   TCP 192.0.2.1:80|198.51.100.1:80|weight|1|4",
            "EV drift_found adopt 1 TCP 192.0.2.1:80|198.51.100.1:80|weight|4|6",
            "EV drift_adopted   TCP 192.0.2.1:80|198.51.100.1:80|weight|4|6",
            "weight\t6",
        ],
        "{out}\n{err}"
    );
}
